# The command line and the start-up checks: bad flags are one-line errors with exit status 2,
# --config FILE (options one per line; the command line wins), and ~/.erlang.cookie refused
# as erl refuses it when others may read it.
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

  describe "bad flags" do
    test "each is one line naming the problem, exit status 2" do
      for {args, expected} <- [
            {["--sname", "x", "--bogus"], "unknown option '--bogus'"},
            {["--bogus", "--sname", "x"], "unknown option '--bogus'"},
            {["--sname", "x", "--hidden=1"], "unknown option '--hidden=1'"},
            {["--sname", "x", "-sname", "y"], "unknown option '-sname'"},
            {["--sname", "x", "stray"], "unexpected argument 'stray'"},
            {["--sname", "x", "--port"], "--port needs a value"},
            {["--sname", "x", "--port", "70000"], "bad port '70000'"},
            {["--sname", "x", "--schedulers", "0"], "bad scheduler count '0'"},
            {["--sname", "x", "--config"], "--config needs a value"},
            {["--sname", "x", "--name", "y@127.0.0.1"], "only one of --sname/--name"},
            {["--cookie", "x"], "a node name is required"},
            {["--sname", ""], "bad node name ''"},
            {["--sname", "a b"], "bad node name 'a b': the part before @ may have only letters, digits, _ and -"},
            {["--sname", "a@host.example"], "a short name's host part cannot have a dot"},
            {["--name", "a@bad host"], "the host part may not have blanks"},
            {["--sname", "x", "--cookie", ""], "bad --cookie"}
          ] do
        assert_usage_error(args, expected)
      end
    end
  end

  describe "--config FILE" do
    test "a node started with only --config has the file's name, cookie and epmd port" do
      name = unique_name("conf")
      cookie = "conf_cookie_#{System.unique_integer([:positive])}"

      f =
        write_conf("""
        # a cnoded config file
        sname #{name}

          cookie #{cookie}
        epmd-port #{epmd_port!()}
        no-epmd-start
        schedulers 2
        """)

      c = start_cnode(bare: true, name: name, cookie: cookie, args: ["--config", f])
      assert in_epmd?(name)
      Node.set_cookie(c.node, String.to_atom(cookie))
      assert connect(c.node) == true, "not reachable with the file's cookie\n#{log_text(c)}"
      assert echo(c, {:from_config, 1}) == {:from_config, 1}
      assert :erpc.call(c.node, :erlang, :system_info, [:schedulers]) == 2
    end

    test "command-line flags override the file's, before or after --config" do
      file_name = unique_name("conffile")
      cli_name = unique_name("confcli")
      cli_cookie = "cli_cookie_#{System.unique_integer([:positive])}"

      f =
        write_conf("""
        sname #{file_name}
        cookie file_cookie_never_used
        epmd-port #{epmd_port!()}
        no-epmd-start
        schedulers 3
        """)

      c =
        start_cnode(
          bare: true,
          name: cli_name,
          cookie: cli_cookie,
          args: ["--cookie", cli_cookie, "--config", f, "--sname", cli_name, "--schedulers", "1"]
        )

      assert in_epmd?(cli_name)
      refute in_epmd?(file_name)
      Node.set_cookie(c.node, String.to_atom(cli_cookie))
      assert connect(c.node) == true, "not reachable with the command line's cookie\n#{log_text(c)}"
      assert :erpc.call(c.node, :erlang, :system_info, [:schedulers]) == 1
    end

    test "errors in the file name FILE:LINE, exit status 2" do
      for {text, line, expected} <- [
            {"sname x\n# fine\nbogus 1\n", 3, "unknown option 'bogus'"},
            {"sname x\nport abc\n", 2, "bad port 'abc'"},
            {"sname x\nhidden yes\n", 2, "hidden takes no value"},
            {"sname x\nport\n", 2, "port needs a value"},
            {"\n--sname x\n", 2, "write the option without its leading dashes"},
            {"sname x\nconfig other.conf\n", 2, "'config' cannot be used in a config file"},
            {"sname x\ncookie #{String.duplicate("c", 5000)}\n", 2, "line longer than 4096 bytes"}
          ] do
        f = write_conf(text)
        assert_usage_error(["--config", f], "#{f}:#{line}: #{expected}")
      end

      # the whole file is bounded
      big = write_conf(String.duplicate("# padding\n", 7000))
      assert_usage_error(["--config", big], "#{big}: larger than 65536 bytes")
      assert_usage_error(["--config", Path.join(tmp(), "no_such.conf")], "No such file")
    end
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

      # what erl itself does with this file (it crashes: its dump goes to the temp dir)
      {erl_out, erl_status} =
        System.cmd("timeout", ["60", "erl", "-sname", unique_name("erlck"), "-noshell", "-eval", "halt()."],
          env: env, stderr_to_stdout: true, cd: home)

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

    test "without ~/.erlang.cookie, $XDG_CONFIG_HOME/erlang/.erlang.cookie is read, as erl reads it" do
      home = tmp_dir("home")
      xdg = Path.join(home, "xdg")
      File.mkdir_p!(Path.join(xdg, "erlang"))
      xpath = Path.join([xdg, "erlang", ".erlang.cookie"])
      cookie = "xdg_cookie_#{System.unique_integer([:positive])}"
      File.write!(xpath, cookie)
      File.chmod!(xpath, 0o400)
      env = [{"HOME", home}, {"XDG_CONFIG_HOME", xdg}]
      name = unique_name("ckxdg")

      c =
        start_cnode(bare: true, name: name, cookie: cookie, env: env,
          args: ["--sname", name, "--epmd-port", epmd_port!(), "--no-epmd-start"])

      Node.set_cookie(c.node, String.to_atom(cookie))
      assert connect(c.node) == true, log_text(c)
      assert echo(c, :xdg) == :xdg
      refute File.exists?(Path.join(home, ".erlang.cookie"))

      {erl_out, 0} =
        System.cmd("timeout", ["60", "erl", "-sname", unique_name("erlxdg"), "-noshell", "-eval",
          "io:format(\"cookie=~s~n\", [erlang:get_cookie()]), halt()."],
          env: env, stderr_to_stdout: true, cd: home)

      assert erl_out =~ "cookie=#{cookie}"

      # a readable one there is refused too
      stop_cnode(c)
      File.chmod!(xpath, 0o640)
      eventually(fn -> not in_epmd?(name) end, 10_000, what: "#{name} to leave epmd")
      c = start_cnode(bare: true, name: name, env: env, wait: false, fail_fast: false,
        args: ["--sname", name, "--epmd-port", epmd_port!(), "--no-epmd-start"])
      assert wait_exit(c, 10_000) == 1
      wait_log(c, "Cookie file #{xpath} must be accessible by owner only", 2_000)
    end
  end
end
