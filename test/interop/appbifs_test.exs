# What people and tools ask every node over rpc about its applications, environment, command
# line and epmd (cnode/services/bifs_app.c): application:which_applications/0,1 and friends,
# os:getenv/0,1,2, init:get_arguments/0, get_argument/1, get_plain_arguments/0,
# net_adm:names/0,1, erlang:self/0, make_ref/0, unique_integer/0,1. Values are held to what the
# test gave cnoded (its environment, its flags) and shapes and errors to a BEAM peer's answers
# to the same calls.
CnodeTest.watchdog(280, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.AppbifsTest do
  use ExUnit.Case
  import CnodeTest
  import Bitwise

  defp rpc(c, m, f, a, t \\ 30_000), do: :rpc.call(c.node, m, f, a, t)
  defp beam(p, m, f, a), do: :rpc.call(p.node, m, f, a, 30_000)

  # An error's reason, and the function the C node's stack names; values as they are.
  defp reason({:badrpc, {:EXIT, {r, [_ | _]}}}), do: {:error, r}
  defp reason(other), do: {:value, other}

  # Each call gives the BEAM peer's error (or value) on the C node too.
  defp same_errors(c, p, calls) do
    for {m, f, a} <- calls do
      mine = rpc(c, m, f, a)
      theirs = beam(p, m, f, a)
      assert reason(mine) == reason(theirs),
             "#{m}:#{f}#{inspect(List.to_tuple(a))}: cnode #{inspect(mine)}, BEAM #{inspect(theirs)}"

      case mine do
        {:badrpc, {:EXIT, {_, [{^m, ^f, _, _} | _]}}} -> :ok
        {:badrpc, _} = e -> flunk("#{m}:#{f}: the stack does not name the function: #{inspect(e)}")
        _ -> :ok
      end
    end
  end

  defp charlist?(l), do: is_list(l) and Enum.all?(l, &is_integer/1)

  describe "application" do
    test "one application, cnode, in the BEAM's shapes; its keys, no environment" do
      c = connect!(start_cnode())
      p = start_peer()
      vsn = rpc(c, :erlang, :system_info, [:version])
      assert [{:cnode, descr, ^vsn}] = rpc(c, :application, :which_applications, [])
      assert charlist?(descr) and descr != []
      assert rpc(c, :application, :which_applications, [5_000]) == [{:cnode, descr, vsn}]
      assert rpc(c, :application, :which_applications, [:infinity]) == [{:cnode, descr, vsn}]
      assert rpc(c, :application, :loaded_applications, []) == [{:cnode, descr, vsn}]
      # the BEAM's entries have the same shape
      for {a, d, v} <- beam(p, :application, :which_applications, []),
          do: assert(is_atom(a) and charlist?(d) and charlist?(v))

      # keys: the same ones, in the same order, as the BEAM's kernel
      {:ok, keys} = rpc(c, :application, :get_all_key, [:cnode])
      {:ok, kernel_keys} = beam(p, :application, :get_all_key, [:kernel])
      assert Keyword.keys(keys) == Keyword.keys(kernel_keys)
      assert keys[:vsn] == vsn and keys[:description] == descr
      assert keys[:env] == [] and keys[:applications] == []
      assert :kv in keys[:modules]
      assert rpc(c, :application, :get_key, [:cnode, :vsn]) == {:ok, vsn}
      assert rpc(c, :application, :get_key, [:cnode, :modules]) == {:ok, keys[:modules]}
      assert rpc(c, :application, :get_key, [:cnode, :nokey]) == :undefined
      assert rpc(c, :application, :get_key, [:kernel, :vsn]) == :undefined
      assert rpc(c, :application, :get_all_key, [:kernel]) == :undefined

      # no environment: undefined, the default, []
      assert rpc(c, :application, :get_env, [:cnode, :anything]) == :undefined
      assert rpc(c, :application, :get_env, [:cnode, :anything, {:my, :default}]) == {:my, :default}
      assert rpc(c, :application, :get_all_env, [:cnode]) == []
      assert rpc(c, :application, :get_env, [:kernel, :net_ticktime]) == :undefined

      # calls about the caller's own application: an rpc runs with the caller's group leader,
      # in no application there, as on the BEAM
      for {f, a} <- [{:get_application, []}, {:get_env, [:x]}, {:get_key, [:vsn]},
                     {:get_all_env, []}, {:get_all_key, []}] do
        assert rpc(c, :application, f, a) == beam(p, :application, f, a), "#{f}#{inspect(a)}"
      end
    end

    test "get_application/1: the node's own processes and worker modules are cnode's" do
      c = connect!(start_cnode())
      p = start_peer()
      echo = rpc(c, :erlang, :whereis, [:echo])
      assert rpc(c, :application, :get_application, [echo]) == {:ok, :cnode}
      # a system process of the BEAM: its application, the same shape
      assert {:ok, :kernel} = beam(p, :application, :get_application, [beam(p, :erlang, :whereis, [:net_kernel])])
      assert rpc(c, :application, :get_application, [:kv]) == {:ok, :cnode}
      assert rpc(c, :application, :get_application, [:nosuch_module]) == :undefined
      assert beam(p, :application, :get_application, [:nosuch_module]) == :undefined
      # spawned from here: our group leader, no application (both)
      kv = Node.spawn(c.node, :kv, :start, [])
      assert rpc(c, :application, :get_application, [kv]) == :undefined
      pk = Node.spawn(p.node, :timer, :sleep, [10_000])
      assert beam(p, :application, :get_application, [pk]) == :undefined
      # a dead process: undefined (both)
      dead = rpc(c, :erlang, :self, [])
      assert rpc(c, :application, :get_application, [dead]) == :undefined
      assert beam(p, :application, :get_application, [beam(p, :erlang, :self, [])]) == :undefined
    end

    test "bad arguments and arities: the BEAM's errors" do
      c = connect!(start_cnode())
      p = start_peer()

      same_errors(c, p, [
        {:application, :which_applications, [-1]},
        {:application, :which_applications, [:forever]},
        {:application, :which_applications, [1.5]},
        {:application, :which_applications, [-(1 <<< 70)]},
        {:application, :get_application, [1]},
        {:application, :get_application, ['kv']},
        {:application, :get_application, [self()]},
        {:application, :get_env, [1, 2]},
        {:application, :get_env, ["cnode", :x, :d]},
        {:application, :get_all_env, [{:x}]},
        {:application, :get_key, [1, :vsn]},
        {:application, :get_all_key, ["x"]},
        {:application, :which_applications, [1, 2]},
        {:application, :get_env, []}
      ])

      # a timeout past what a receive can wait: the exit gen_server:call gives
      for t <- [1 <<< 32, 1 <<< 70] do
        exit_of = fn {:badrpc, {:EXIT, {{:timeout_value, [_ | _]}, call}}} -> call end
        assert exit_of.(rpc(c, :application, :which_applications, [t])) ==
                 exit_of.(beam(p, :application, :which_applications, [t]))
      end

      assert rpc(c, :application, :which_applications, [(1 <<< 32) - 1]) ==
               rpc(c, :application, :which_applications, [])
    end
  end

  describe "os:getenv" do
    test "the real environment, decoded as the BEAM decodes it" do
      uni = "héllo ✓ Ω"
      env = [{"CNODE_APP_UNI", uni}, {"CNODE_APP_PLAIN", "plain=value"}]
      # a value that is not UTF-8, and an empty one, set by env(1): a port's environment is
      # text, and an empty value there unsets the variable
      c = connect!(start_cnode(env: env, wrap: ["env", <<"CNODE_APP_RAW=ab", 0xFF, "c">>, "CNODE_APP_EMPTY="]))
      p = start_peer(env: env)

      assert rpc(c, :os, :getenv, ['CNODE_APP_UNI']) == String.to_charlist(uni)
      assert rpc(c, :os, :getenv, ['CNODE_APP_PLAIN']) == 'plain=value'
      assert rpc(c, :os, :getenv, ['CNODE_APP_RAW']) == [?a, ?b, 0xFF, ?c]
      assert rpc(c, :os, :getenv, ['CNODE_APP_EMPTY']) == ''
      assert rpc(c, :os, :getenv, ['CNODE_APP_EMPTY', :dflt]) == ''

      for v <- ['CNODE_APP_UNI', 'CNODE_APP_PLAIN', 'CNODE_APP_NOT_SET', '', [1000], 'ÿ'] do
        assert rpc(c, :os, :getenv, [v]) == beam(p, :os, :getenv, [v]), "getenv(#{inspect(v)})"
      end

      assert rpc(c, :os, :getenv, ['CNODE_APP_NOT_SET', :dflt]) == :dflt
      assert rpc(c, :os, :getenv, ['CNODE_APP_PLAIN', :dflt]) == 'plain=value'

      all = rpc(c, :os, :getenv, [])
      assert Enum.all?(all, &charlist?/1)
      assert ('CNODE_APP_UNI=' ++ String.to_charlist(uni)) in all
      assert 'CNODE_APP_PLAIN=plain=value' in all
      assert 'CNODE_APP_EMPTY=' in all
      assert 'CNODE_APP_RAW=' ++ [?a, ?b, 0xFF, ?c] in all
      # the same entries for the variables both have
      for e <- beam(p, :os, :getenv, []), :lists.prefix('CNODE_APP_', e), do: assert(e in all)
      # the rest of its environment is cnoded's real one
      assert ('HOME=' ++ rpc(c, :os, :getenv, ['HOME'])) in all
    end

    test "bad names: the BEAM's badarg" do
      c = connect!(start_cnode())
      p = start_peer()

      same_errors(c, p, [
        {:os, :getenv, [:HOME]},
        {:os, :getenv, ["HOME"]},
        {:os, :getenv, ['A=B']},
        {:os, :getenv, ['HOME\0']},
        {:os, :getenv, [[?H | ?O]]},
        {:os, :getenv, [[-1]]},
        {:os, :getenv, [[0x110000]]},
        {:os, :getenv, [[0xD800]]},
        {:os, :getenv, [[1.0]]},
        {:os, :getenv, [{'HOME'}]},
        {:os, :getenv, [:HOME, 'x']},
        {:os, :getenv, ['A=B', 'x']},
        {:os, :getenv, [1, 2, 3]}
      ])
    end
  end

  describe "init arguments" do
    test "cnoded's flags under erl's names, progname and home; never the cookie" do
      home = Path.join(System.tmp_dir!(), "cnode_app_home_#{System.unique_integer([:positive])}")
      cfg = Path.join(System.tmp_dir!(), "cnode_app_#{System.unique_integer([:positive])}.conf")
      File.write!(cfg, "# expanded in place, as erl expands -args_file\nreconnect-max-ms 5000\ncookie file_cookie\n")
      on_exit(fn -> File.rm(cfg) end)

      c =
        connect!(
          start_cnode(
            env: [{"HOME", home}],
            args: ["--net-ticktime", "20", "--handshake-timeout", "1500", "--log-level", "info",
                   "--config", cfg]
          )
        )

      p = start_peer()
      args = rpc(c, :init, :get_arguments, [])
      # the BEAM's shape: {Flag, [charlist]}
      for list <- [args, beam(p, :init, :get_arguments, [])], {f, vs} <- list do
        assert is_atom(f) and is_list(vs) and Enum.all?(vs, &charlist?/1), inspect({f, vs})
      end

      port = System.get_env("ERL_EPMD_PORT")

      assert args == [
               {:progname, ['cnoded']},
               {:home, [String.to_charlist(home)]},
               {:sname, [String.to_charlist(c.name)]},
               {:epmd_port, [String.to_charlist(port)]},
               {:start_epmd, ['false']},
               {:kernel, ['net_ticktime', '20']},
               {:kernel, ['net_setuptime', '1.5']},
               {:log_level, ['info']},
               {:reconnect_max_ms, ['5000']}
             ]

      # the cookie is nowhere (the BEAM would list -setcookie)
      refute inspect(args) =~ c.cookie
      refute inspect(args) =~ "file_cookie"
      assert rpc(c, :init, :get_argument, [:setcookie]) == :error

      assert rpc(c, :init, :get_argument, [:kernel]) == {:ok, [['net_ticktime', '20'], ['net_setuptime', '1.5']]}
      assert rpc(c, :init, :get_argument, [:sname]) == {:ok, [[String.to_charlist(c.name)]]}
      assert rpc(c, :init, :get_argument, [:progname]) == {:ok, [['cnoded']]}
      assert rpc(c, :init, :get_plain_arguments, []) == []
      # flags nobody gave, and flags that are not atoms: error, as on the BEAM
      for f <- [:nosuch_flag, 3, "kernel", {:kernel}] do
        assert rpc(c, :init, :get_argument, [f]) == :error
        assert beam(p, :init, :get_argument, [f]) == :error
      end

      # and what the BEAM itself gives for the flags they share, in the same form
      {:ok, [[peer_name]]} = beam(p, :init, :get_argument, [:sname])
      assert charlist?(peer_name)
      same_errors(c, p, [{:init, :get_argument, []}, {:init, :get_arguments, [1]}])
    end
  end

  describe "net_adm:names" do
    test "the names epmd lists, exactly as the BEAM peer reads them; bad hosts as it answers" do
      c = connect!(start_cnode())
      p = start_peer()
      theirs = beam(p, :net_adm, :names, [])
      assert {:ok, list} = rpc(c, :net_adm, :names, [])
      assert list == elem(theirs, 1)
      for n <- [c.name, p.name], do: assert({_, port} = List.keyfind(list, String.to_charlist(n), 0))
      assert {_, cport} = List.keyfind(list, String.to_charlist(c.name), 0)
      assert {:port, ^cport, _} = :erl_epmd.port_please(String.to_charlist(c.name), {127, 0, 0, 1})
      h = host()
      for a <- [[String.to_atom(h)], [String.to_charlist(h)], [{127, 0, 0, 1}], ['127.0.0.1']] do
        assert beam(p, :net_adm, :names, a) == theirs, "BEAM names#{inspect(a)}"
        mine = rpc(c, :net_adm, :names, a)
        assert mine == theirs, "names#{inspect(a)}: cnode #{inspect(mine)}, BEAM #{inspect(theirs)}"
      end

      # localhost: whatever the host's resolver says (a root without /etc/hosts has none)
      assert rpc(c, :net_adm, :names, [:localhost]) == beam(p, :net_adm, :names, [:localhost])

      # a host that does not resolve
      assert rpc(c, :net_adm, :names, [:"no-such-host.invalid"]) == {:error, :nxdomain}
      assert beam(p, :net_adm, :names, [:"no-such-host.invalid"]) == {:error, :nxdomain}
      assert rpc(c, :net_adm, :names, ['no-such-host.invalid']) == beam(p, :net_adm, :names, ['no-such-host.invalid'])
      # nobody there: {error, address} (the BEAM is told the same by a refused connection)
      ip6 = {0, 0, 0, 0, 0, 0, 0, 1}
      assert rpc(c, :net_adm, :names, [ip6]) == beam(p, :net_adm, :names, [ip6])

      same_errors(c, p, [
        {:net_adm, :names, [{1, 2}]},
        {:net_adm, :names, ['']},
        {:net_adm, :names, [:""]},
        {:net_adm, :names, ["localhost"]},
        {:net_adm, :names, [[1000]]},
        {:net_adm, :names, [[-1]]},
        {:net_adm, :names, [[?a | ?b]]},
        {:net_adm, :names, [{127, 0, 0, 1, 0}]},
        {:net_adm, :names, [{127, 0, 0, -1}]},
        {:net_adm, :names, [{1, 2, 3, 256}]},
        {:net_adm, :names, [123]},
        {:net_adm, :names, [self()]},
        {:net_adm, :names, [1, 2]}
      ])

      # each node that goes away leaves the list
      stop_cnode(c)
      eventually(fn -> elem(beam(p, :net_adm, :names, []), 1) |> List.keyfind(String.to_charlist(c.name), 0) == nil end, 10_000)
    end
  end

  describe "self, make_ref, unique_integer" do
    test "the rpc's own process, references of the node, unique integers as asked" do
      c = connect!(start_cnode())
      p = start_peer()
      me = rpc(c, :erlang, :self, [])
      assert is_pid(me) and node(me) == c.node
      # each rpc runs in a process of its own, gone when it has answered
      me2 = rpc(c, :erlang, :self, [])
      assert me2 != me
      assert rpc(c, :erlang, :is_process_alive, [me]) == false

      refs = for _ <- 1..20, do: rpc(c, :erlang, :make_ref, [])
      assert Enum.all?(refs, &(is_reference(&1) and node(&1) == c.node))
      assert length(Enum.uniq(refs)) == 20

      ints = for o <- [[], [:positive], [:monotonic], [:positive, :monotonic], [:monotonic, :positive, :positive]],
                 _ <- 1..10,
                 do: {o, rpc(c, :erlang, :unique_integer, [o])}

      assert Enum.all?(ints, fn {_, i} -> is_integer(i) end)
      assert length(Enum.uniq_by(ints, &elem(&1, 1))) == length(ints)
      assert Enum.all?(ints, fn {o, i} -> :positive not in o or i > 0 end)
      mono = for {o, i} <- ints, :monotonic in o, do: i
      assert mono == Enum.sort(mono)
      u0 = rpc(c, :erlang, :unique_integer, [])
      assert is_integer(u0) and u0 not in Enum.map(ints, &elem(&1, 1))

      same_errors(c, p, [
        {:erlang, :unique_integer, [[:x]]},
        {:erlang, :unique_integer, [:positive]},
        {:erlang, :unique_integer, [[:positive | :monotonic]]},
        {:erlang, :unique_integer, ['ab']},
        {:erlang, :unique_integer, [[:positive, 1]]},
        {:erlang, :unique_integer, [{:positive}]},
        {:erlang, :unique_integer, [[], []]},
        {:erlang, :self, [1]},
        {:erlang, :make_ref, [:x]}
      ])
    end
  end

  describe "a clean stop" do
    test "after every function, many times: exit 0, and no ASan or UBSan report (SAN=1 builds)" do
      c = connect!(start_cnode(args: ["--net-ticktime", "30"]))
      me = self()

      calls = [
        {:application, :which_applications, []}, {:application, :which_applications, [1 <<< 40]},
        {:application, :get_all_key, [:cnode]}, {:application, :get_key, [:cnode, :modules]},
        {:application, :get_application, [me]}, {:application, :get_application, [:kv]},
        {:os, :getenv, []}, {:os, :getenv, ['HOME']}, {:os, :getenv, [[1000, 2000]]},
        {:os, :getenv, ['A=B', :x]}, {:init, :get_arguments, []}, {:init, :get_argument, [:kernel]},
        {:net_adm, :names, []}, {:net_adm, :names, ['no-such-host.invalid']},
        {:net_adm, :names, [{1, 2}]}, {:erlang, :make_ref, []}, {:erlang, :unique_integer, [[:x]]}
      ]

      for _ <- 1..20, {m, f, a} <- calls, do: rpc(c, m, f, a)
      assert echo(c, :still_here) == :still_here
      mark = log_mark(c)
      sigterm(c)
      status = wait_exit(c, 10_000)

      for bad <- ["AddressSanitizer", "LeakSanitizer: detected", "runtime error:"] do
        assert log_lines(c, bad, after: mark) == [], "#{bad} in the log:\n#{log_text(c, 60)}"
      end

      # an ASan build in a root without /proc: LeakSanitizer itself fails and exits 1
      unless status == 1 and log_lines(c, "LeakSanitizer has encountered a fatal error") != [],
        do: assert(status == 0, "exit status #{inspect(status)}")
    end
  end
end
