# Connecting to cnoded from Elixir, and talking to its built-in echo process.
CnodeTest.watchdog(180, __ENV__.file)
ExUnit.start(trace: true, timeout: 60_000)

defmodule Interop.ConnectTest do
  use ExUnit.Case
  import CnodeTest

  # a fresh cnode per test; `@tag cnode: [hidden: true]` passes start options
  setup ctx do
    %{c: start_cnode(ctx[:cnode] || [])}
  end

  describe "connecting" do
    test "Node.connect returns true and the cnode is a visible node", %{c: c} do
      # connect! fails unless Node.connect returns true (and shows the cnode's log if not)
      connect!(c)
      assert c.node in Node.list()
      refute c.node in Node.list(:hidden)
      wait_log(c, "connection up: #{node()}")
    end

    @tag cnode: [hidden: true]
    test "a --hidden cnode is listed only by Node.list(:hidden)", %{c: c} do
      connect!(c)
      assert c.node in Node.list(:hidden)
      refute c.node in Node.list()
      assert c.node in Node.list(:connected)
    end

    test "Node.ping answers :pong (without an explicit connect first)", %{c: c} do
      assert ping(c.node) == :pong
      assert c.node in Node.list()
      assert ping(c.node) == :pong
    end

    test "monitor_nodes reports nodeup on connect and nodedown when the cnode is killed", %{c: c} do
      n = c.node
      :ok = :net_kernel.monitor_nodes(true)
      connect!(c)
      assert_receive {:nodeup, ^n}, 5_000

      kill9(c)
      assert_receive {:nodedown, ^n}, 10_000
      refute n in Node.list()
    end

    test "Node.disconnect is seen by the cnode, and connecting again works", %{c: c} do
      connect!(c)
      mark = log_mark(c)
      assert Node.disconnect(c.node) == true
      wait_log(c, "connection down: #{node()}", 5_000, after: mark)
      assert ping(c.node) == :pong
      wait_log(c, "connection up: #{node()}", 5_000, after: mark)
      assert echo(c, :again) == :again
    end
  end

  describe "echo" do
    setup %{c: c}, do: %{c: connect!(c)}

    test "atoms, including empty, unicode and maximum-length ones", %{c: c} do
      for t <- [
            :atom,
            :"",
            true,
            false,
            nil,
            :"with space",
            :"héllo",
            :"日本語",
            :"😀",
            String.to_atom(String.duplicate("a", 255)),
            String.to_atom(String.duplicate("é", 255))
          ] do
        assert echo(c, t) === t
      end
    end

    test "integers: small, 32/64-bit boundaries and bignums", %{c: c} do
      ints =
        [0, 1, -1, 255, 256, 2 ** 27 - 1, 2 ** 27, -(2 ** 27) - 1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31)] ++
          [-(2 ** 31) - 1, 2 ** 32, 2 ** 63 - 1, 2 ** 63, -(2 ** 63), 2 ** 64, -(2 ** 64), 2 ** 64 + 1] ++
          [2 ** 1000 + 7, -(2 ** 2040) + 3, 2 ** 8000]

      for t <- ints, do: assert(echo(c, t) === t)
    end

    test "floats keep every bit, including the sign of zero", %{c: c} do
      neg_zero = :erlang.binary_to_term(<<131, 70, 0x80, 0::56>>)

      for t <- [0.0, neg_zero, 1.0, -1.5, 3.141592653589793, 1.0e300, -1.5e-300, 5.0e-324, 1.7976931348623157e308] do
        back = echo(c, t)
        assert is_float(back)
        assert <<back::float>> == <<t::float>>, "float #{t} came back as #{back}"
      end
    end

    test "binaries and bitstrings", %{c: c} do
      for t <- [
            "",
            "binary",
            <<0, 255, 1, 0>>,
            "unicode ✓ text ü",
            :binary.copy("0123456789", 10_000),
            binary_part(:binary.copy("sub-binary", 100), 3, 500),
            <<1::size(3)>>,
            <<255, 7::size(5)>>
          ] do
        assert echo(c, t) === t
      end
    end

    test "lists, tuples and maps, nested", %{c: c} do
      nested = Enum.reduce(1..100, :bottom, fn i, acc -> [i, {acc}] end)
      big_map = Map.new(1..100, fn i -> {"k#{i}", i} end)

      for t <- [
            [],
            [1, 2, 3],
            ~c"charlist",
            [1 | 2],
            [:a, [:b, [:c, []]]],
            [a: 1, b: [c: 2]],
            {},
            {1},
            {:a, "b", [c: 1], 2.5},
            List.to_tuple(Enum.to_list(1..300)),
            %{},
            %{a: 1},
            %{{1, 2} => [3], "k" => %{nested: true}, 1.5 => nil, [1] => {}},
            big_map,
            %{data: [%{list: [{1, 2.5, "x", :y}]}]},
            nested,
            URI.parse("https://example.com/a?b=c")
          ] do
        assert echo(c, t) === t
      end
    end

    test "pids, references and ports", %{c: c} do
      port = hd(Port.list())

      for t <- [self(), make_ref(), port, {self(), make_ref()}, [make_ref(), self(), port]] do
        assert echo(c, t) === t
      end

      # an alias reference still works as one after the round trip
      alias_ref = :erlang.alias()
      send(echo(c, alias_ref), :via_alias)
      assert_receive :via_alias, 1_000
    end

    test "funs", %{c: c} do
      export = &:erlang.node/0
      back = echo(c, export)
      assert back === export
      assert back.() == node()

      closure = fn x -> {x, c.name} end
      back = echo(c, closure)
      assert back === closure
      assert back.(1) == {1, c.name}
    end

    test "a long list (100_000 elements)", %{c: c} do
      t = Enum.to_list(1..100_000)
      assert_same(echo(c, t, 30_000), t)
    end

    test "1000 sequential calls each get their own answer", %{c: c} do
      {us, _} =
        :timer.tc(fn ->
          for i <- 1..1000, do: assert(echo(c, {:seq, i}) == {:seq, i})
        end)

      IO.puts("    1000 sequential calls: #{div(us, 1000)} ms")
    end

    test "concurrent callers each get their own reply", %{c: c} do
      1..50
      |> Enum.map(fn i ->
        Task.async(fn -> for j <- 1..40, do: assert(echo(c, {i, j, self()}) == {i, j, self()}) end)
      end)
      |> Task.await_many(30_000)
    end

    test "casts are counted: N casts, then :count is N", %{c: c} do
      assert echo(c, :count) == 0
      for i <- 1..500, do: :ok = GenServer.cast({:echo, c.node}, {:n, i})
      # a call after casts from the same process is ordered after them
      assert echo(c, :count) == 500
    end

    test "message order is preserved between casts and calls", %{c: c} do
      for i <- 1..300 do
        GenServer.cast({:echo, c.node}, {:item, i})
        if rem(i, 25) == 0, do: assert(echo(c, :count) == i)
      end
    end

    test "a call to a name that is not registered exits with :noproc at once", %{c: c} do
      {us, reason} = :timer.tc(fn -> catch_exit(GenServer.call({:nosuch, c.node}, :x, 5_000)) end)
      assert {:noproc, {GenServer, :call, _}} = reason
      assert us < 1_000_000, "noproc took #{div(us, 1000)} ms"
      # the connection is unharmed
      assert echo(c, :still_there) == :still_there
    end
  end
end
