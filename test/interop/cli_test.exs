# The command line and the start-up checks: ~/.erlang.cookie refused as erl refuses it when
# others may read it.
CnodeTest.watchdog(240, __ENV__.file)
ExUnit.start(trace: true, timeout: 90_000)

defmodule Interop.CliTest do
  use ExUnit.Case
  import CnodeTest

  defp tmp, do: System.get_env("CNODE_TEST_TMP") || System.tmp_dir!()

  defp tmp_dir(prefix) do
    d = Path.join(tmp(), "#{prefix}_#{System.unique_integer([:positive])}")
    File.mkdir_p!(d)
    d
  end

  # cnoded run to completion (bounded: `timeout` kills it if it ever started a node instead)
  defp run_cnoded(args) do
    System.cmd("timeout", ["20", cnoded!() | args], stderr_to_stdout: true)
  end

  # an ASan build in a root without ptrace: LeakSanitizer itself fails and exits 1
  defp lsan_broken?(out), do: out =~ "LeakSanitizer has encountered a fatal error"

  defp assert_usage_error(args, expected) do
    {out, status} = run_cnoded(args)
    lines = out |> String.split("\n", trim: true) |> Enum.reject(&(&1 =~ "LeakSanitizer"))

    unless status == 1 and lsan_broken?(out),
      do: assert(status == 2, "exit status #{status} for #{inspect(args)}: #{out}")

    assert [line] = lines, "not one line for #{inspect(args)}: #{inspect(out)}"
    assert line =~ ~r/^cnoded: /, line
    assert line =~ expected, "for #{inspect(args)}: #{line}"
    line
  end

  defp write_conf(text) do
    f = Path.join(tmp_dir("conf"), "cnoded.conf")
    File.write!(f, text)
    f
  end

  defp in_epmd?(name) do
    {:ok, names} = :net_adm.names()
    Enum.any?(names, fn {n, _port} -> to_string(n) == name end)
  end

  describe "~/.erlang.cookie" do
    @tag timeout: 120_000
    test "a cookie file others may read is refused as erl refuses it; 0400 and 0600 work" do
      home = tmp_dir("home")
      path = Path.join(home, ".erlang.cookie")
      cookie = "home_cookie_#{System.unique_integer([:positive])}"
      File.write!(path, cookie <> "\n")
      File.chmod!(path, 0o644)
      name = unique_name("ckperm")
      env = [{"HOME", home}]
      base = ["--sname", name, "--epmd-port", epmd_port!(), "--no-epmd-start"]

      # what erl itself does with this file
      {erl_out, erl_status} =
        System.cmd("timeout", ["60", "erl", "-sname", unique_name("erlck"), "-noshell", "-eval", "halt()."],
          env: env, stderr_to_stdout: true)

      assert erl_status != 0
      assert erl_out =~ "Cookie file #{path} must be accessible by owner only"

      c = start_cnode(bare: true, name: name, args: base, env: env, wait: false, fail_fast: false)
      status = wait_exit(c, 10_000)
      line = wait_log(c, "must be accessible by owner only", 2_000)
      assert line =~ "Cookie file #{path} must be accessible by owner only"
      assert status == 1, "exit status #{inspect(status)}\n#{log_text(c)}"
      refute in_epmd?(name)

      File.chmod!(path, 0o604)
      c = start_cnode(bare: true, name: name, args: base, env: env, wait: false, fail_fast: false)
      assert wait_exit(c, 10_000) == 1

      for mode <- [0o400, 0o600] do
        File.chmod!(path, mode)
        c = start_cnode(bare: true, name: name, cookie: cookie, args: base, env: env)
        Node.set_cookie(c.node, String.to_atom(cookie))
        assert connect(c.node) == true, "mode #{Integer.to_string(mode, 8)}\n#{log_text(c)}"
        assert echo(c, :home_cookie) == :home_cookie
        stop_cnode(c)
        Node.disconnect(c.node)
        eventually(fn -> not in_epmd?(name) end, 10_000, what: "#{name} to leave epmd")
      end
    end
  end
end
