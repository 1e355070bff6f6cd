# The node survives an epmd restart: it registers again under the same name, so nodes that
# start afterwards still find it, and connections that were up stay up.
ExUnit.start()

defmodule Interop.EpmdRestartTest do
  use ExUnit.Case
  import CnodeTest

  test "killed and restarted epmd: the cnode registers again with the same name" do
    port = free_port()
    epmd = start_epmd(port)
    c = start_cnode(args: ["--epmd-port", "#{port}"])
    [alive, _] = c.node |> Atom.to_string() |> String.split("@")
    assert epmd_names(port) =~ "name #{alive} at port"

    kill_epmd(port, epmd)
    wait_log(c, "re-registering", 5000)
    start_epmd(port)
    assert eventually(fn -> epmd_names(port) =~ "name #{alive} at port" end, 8000,
             what: "the cnode registered again")
    wait_log(c, "registered with epmd again", 2000)
    assert os_alive?(c.os_pid)
  end
end
