# The node survives an epmd restart: it registers again under the same name, so nodes that
# start afterwards still find it, and connections that were up stay up.
ExUnit.start()

defmodule Interop.EpmdRestartTest do
  use ExUnit.Case
  import CnodeTest

  # A second private epmd, owned by this test (the runner's own epmd is never touched).
  # Returns its OS pid; `epmd -kill` refuses while names are registered, so it is killed by pid.
  defp start_epmd(port) do
    epmd = System.find_executable("epmd") || flunk("epmd not found")
    p = Port.open({:spawn_executable, epmd}, [:binary, args: ["-port", "#{port}"]])
    {:os_pid, os_pid} = Port.info(p, :os_pid)
    on_exit(fn -> kill9(os_pid) end)
    eventually(fn -> names(port) != :error end, 5000, what: "epmd answering on #{port}")
    os_pid
  end

  defp names(port) do
    case System.cmd("epmd", ["-port", "#{port}", "-names"], stderr_to_stdout: true) do
      {out, 0} -> out
      _ -> :error
    end
  end

  defp kill_epmd(port, os_pid) do
    kill9(os_pid)
    eventually(fn -> names(port) == :error end, 5000, what: "epmd gone")
  end

  defp free_port do
    {:ok, s} = :gen_tcp.listen(0, [])
    {:ok, p} = :inet.port(s)
    :gen_tcp.close(s)
    p
  end

  test "killed and restarted epmd: the cnode registers again with the same name" do
    port = free_port()
    epmd = start_epmd(port)
    c = start_cnode(args: ["--epmd-port", "#{port}"])
    [alive, _] = c.node |> Atom.to_string() |> String.split("@")
    assert names(port) =~ "name #{alive} at port"

    kill_epmd(port, epmd)
    wait_log(c, "re-registering", 5000)
    start_epmd(port)
    assert eventually(fn -> names(port) =~ "name #{alive} at port" end, 8000,
             what: "the cnode registered again")
    wait_log(c, "registered with epmd again", 2000)
    assert os_alive?(c.os_pid)
  end
end
