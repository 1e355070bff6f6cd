# The extractor (workers/extractor.c): the C worker and :extractor.extract/1 give the same
# answers as the Elixir reference (scripts/desk/extractor.ex, run on a real BEAM peer) on
# hundreds of seeded generated documents, hand-written edge cases, random bytes and hostile
# input; and the worker API: spawn, cnode_sup child, --child, call, rpc, refusals,
# :sys.get_state counts (compared with the Elixir worker's after the same calls).
ExUnit.start(timeout: 180_000)
CnodeTest.watchdog(280, __ENV__.file)

# the reference is compiled (and loaded) here, and its object code kept for the BEAM peer
root = Path.expand("../..", __DIR__)
[{DeskExtractor, bin}] = Code.compile_file(Path.join(root, "scripts/desk/extractor.ex"))
:persistent_term.put(:desk_extractor_beam, bin)
Code.require_file(Path.join(root, "scripts/desk/docgen.ex"))

defmodule Interop.ExtractorTest do
  use ExUnit.Case
  import CnodeTest

  @kinds [:emails, :urls, :phones, :dates, :money, :names]

  @edge [
    "",
    "plain text without anything",
    "mail jo.smith+tag@mail.example.co.uk, then a@b.io.",
    "see https://example.com/a?b=1&c=2. and (http://x.org/path) \"http://q.io/\"!?",
    "pay $1,234.56, €5 and £12.5; 1234.50 USD, 7 EUR, 9 GBP; $5m US$5 $1,2345 $5.",
    "on 2024-03-12, 12/3/2024, 1.12.2024, 31-12-1999, 12 March 2024; March 12, 2024",
    "On March 12, 2024 May Smith met Ada Lovelace and Alan Mathison Turing.",
    "call +44 20 7946 0958. (555) 123-4567, or 555.123.4567; 1234567890123456 x+12345678",
    "2024-13-45 2024-3-12 32/1/2024 12/3-2024 0/0/2024 2024-03-12x",
    "http://a.b/x@y.com John.Smith@Example.com 12345678.90 USD Grace Hopper Grace Hopper",
    "café a@b.com — Ann Lee 😀 éa@b.com é12345678 Zoë Smith Ann Lee £5€6",
    "a@b.com\0http://x.y\0z\0Ann Lee\0" <> "12345678",
    <<0xFF, 0xFE, "Ann Lee ", 0xC3, " a@b.com ", 0x80, "$5 ", 0xE2, 0x82>>,
    "1234 - - 5678 ((555)) + 12345678 3.14159265 Ann  Lee NASA Ames McDonald Farm A Team"
  ]

  setup_all do
    c = start_cnode(args: ["--child", "extractor:desk_extractor"])
    true = Node.connect(c.node)
    peer = start_peer()
    bin = :persistent_term.get(:desk_extractor_beam)

    {:module, DeskExtractor} =
      peer_call(peer, :code, :load_binary, [DeskExtractor, ~c"extractor.ex", bin])

    {:ok, c: c, peer: peer}
  end

  defp c_worker(c) do
    pid = Node.spawn(c.node, :extractor, :start, [])
    assert node(pid) == c.node
    pid
  end

  defp beam_worker(peer) do
    {:ok, pid} = peer_call(peer, DeskExtractor, :start, [])
    pid
  end

  # Every way of asking, on one document; all must agree with the reference on this node.
  defp compare_all(docs, c, peer, wpid) do
    Enum.reduce(docs, 0, fn doc, found ->
      ref = DeskExtractor.extract(doc)
      assert Map.keys(ref) |> Enum.sort() == Enum.sort(@kinds)
      via_call = GenServer.call(wpid, {:extract, doc}, 30_000)
      via_rpc = :erpc.call(c.node, :extractor, :extract, [doc], 30_000)
      via_peer = peer_call(peer, DeskExtractor, :extract, [doc], 30_000)

      for {how, got} <- [call: via_call, rpc: via_rpc, beam_peer: via_peer], got != ref do
        diff = for k <- @kinds, got[k] != ref[k], do: {k, c: got[k], elixir: ref[k]}

        flunk(
          "#{how} differs from the Elixir reference on #{inspect(doc, limit: 200)}:\n#{inspect(diff)}"
        )
      end

      found + Enum.sum(for {_, l} <- ref, do: length(l))
    end)
  end

  test "C and the Elixir reference agree on generated documents, edge cases and random bytes",
       %{c: c, peer: peer} do
    w = c_worker(c)
    generated = DeskDocs.docs(2026, 300) ++ DeskDocs.docs(7, 60, max_bytes: 200)
    found = compare_all(generated, c, peer, w)

    # not vacuous: every kind turns up, thousands of entities in all
    all = Enum.map(generated, &DeskExtractor.extract/1)
    for k <- @kinds, do: assert(Enum.sum(for r <- all, do: length(r[k])) > 100, "few #{k}")
    assert found > 5_000

    compare_all(@edge, c, peer, w)

    :rand.seed(:exsss, {20, 26, 11})
    alphabet = ~c"aZ1 .@$+(-/:,hHtp" ++ [0, 0xE2, 0x82, 0xAC, 0xC2, 0xA3, 0xFF, ?\n]

    random =
      for _ <- 1..100 do
        for _ <- 1..:rand.uniform(3000), into: <<>>, do: <<Enum.random(alphabet)>>
      end

    compare_all(random, c, peer, w)

    # hand-checked answers, so that agreement is not agreement on something wrong
    assert GenServer.call(w, {:extract, Enum.at(@edge, 2)}) == %{
             emails: ["jo.smith+tag@mail.example.co.uk", "a@b.io"],
             urls: [],
             phones: [],
             dates: [],
             money: [],
             names: []
           }

    assert GenServer.call(w, {:extract, Enum.at(@edge, 6)}) == %{
             emails: [],
             urls: [],
             phones: [],
             money: [],
             dates: ["March 12, 2024"],
             names: ["Ada Lovelace", "Alan Mathison Turing"]
           }

    assert :erpc.call(c.node, :extractor, :extract, [Enum.at(@edge, 4)]).money ==
             ["$1,234.56", "€5", "£12.5", "1234.50 USD", "7 EUR", "9 GBP", "$1", "$5"]
  end

  test "hostile documents: megabytes of digits, '@', capitalised words, invalid UTF-8, NULs",
       %{c: c} do
    w = c_worker(c)
    mb = 1024 * 1024

    for {what, doc} <- [
          digits: :binary.copy("1", mb),
          digits_dots: :binary.copy("1.", div(mb, 2)),
          at_signs: :binary.copy("@", mb),
          local_parts: :binary.copy("a.", div(mb, 2)),
          capitalised: :binary.copy("Abc ", div(mb, 4)),
          capitalised_months: :binary.copy("Abc May ", div(mb, 8)),
          invalid_utf8: :binary.copy(<<0xFF, 0xC3, 0x28, 0x80>>, div(mb, 4)),
          nuls: :binary.copy(<<0>>, mb),
          money_groups: :binary.copy(",123", div(mb, 4))
        ] do
      t0 = System.monotonic_time(:millisecond)
      got = GenServer.call(w, {:extract, doc}, 60_000)
      ms = System.monotonic_time(:millisecond) - t0
      assert got == DeskExtractor.extract(doc), "#{what}: C and Elixir differ"
      # linear: a megabyte is milliseconds of C; a quadratic scan would take minutes
      assert ms < 10_000, "#{what}: #{ms} ms for 1 MiB"
    end

    assert %{names: [one]} =
             GenServer.call(w, {:extract, :binary.copy("Abc ", div(mb, 4))}, 60_000)

    assert byte_size(one) == mb - 1
  end

  test "the worker: spawn, cnode_sup child, --child, refusals and :sys.get_state counts",
       %{c: c, peer: peer} do
    w = c_worker(c)
    b = beam_worker(peer)
    assert :sys.get_state(w) == %{documents: 0, bytes: 0, entities: 0, refused: 0}

    calls =
      Enum.take(DeskDocs.docs(99, 20), 20) ++
        [
          {:bad, 123},
          {:bad, ~c"charlist"},
          {:bad, <<1::3>>},
          {:raw, :foo},
          {:raw, {:extract}},
          {:raw, {:extract, "a", "b"}},
          ""
        ]

    for call <- calls do
      req =
        case call do
          {:bad, x} -> {:extract, x}
          {:raw, x} -> x
          doc -> {:extract, doc}
        end

      cr = GenServer.call(w, req)
      br = GenServer.call(b, req)
      assert cr == br

      case call do
        doc when is_binary(doc) -> assert cr == DeskExtractor.extract(doc)
        _ -> assert cr == {:error, :badarg}
      end
    end

    docs = Enum.filter(calls, &is_binary/1)
    st = :sys.get_state(w)
    assert st == :sys.get_state(b)
    assert st.documents == length(docs)
    assert st.bytes == Enum.sum(Enum.map(docs, &byte_size/1))

    assert st.entities ==
             Enum.sum(for d <- docs, {_, l} <- DeskExtractor.extract(d), do: length(l))

    assert st.refused == 6

    # casts and other messages are ignored
    GenServer.cast(w, {:extract, "Ann Lee"})
    send(w, :hello)
    assert GenServer.call(w, {:extract, "Ann Lee"}).names == ["Ann Lee"]
    assert %{documents: 22, refused: 6} = :sys.get_state(w)

    # under cnode_sup, and the one --child started at boot
    {:ok, sup_w} =
      DynamicSupervisor.start_child({:cnode_sup, c.node}, %{
        id: :ex,
        start: {:extractor, :start_link, []}
      })

    assert GenServer.call(sup_w, {:extract, "ring +1 555 123 4567"}).phones == ["+1 555 123 4567"]
    assert GenServer.call({:desk_extractor, c.node}, {:extract, "Ann Lee"}).names == ["Ann Lee"]
  end

  test "refusals over rpc, and the size limit", %{c: c} do
    for bad <- [123, ~c"abc", <<1::3>>, :atom, {"a"}] do
      assert {:exception, :badarg, [{:extractor, :extract, 1, _}]} =
               catch_error(:erpc.call(c.node, :extractor, :extract, [bad]))

      assert_raise ArgumentError, fn -> DeskExtractor.extract(bad) end
    end

    assert {:badrpc, {:EXIT, {:badarg, _}}} = :rpc.call(c.node, :extractor, :extract, [1])

    w = c_worker(c)
    max = DeskExtractor.max_doc()
    at_max = :binary.copy("x", max)
    assert %{names: []} = GenServer.call(w, {:extract, at_max}, 60_000)
    assert %{urls: []} = :erpc.call(c.node, :extractor, :extract, [at_max], 60_000)
    over = at_max <> "y"
    assert GenServer.call(w, {:extract, over}, 60_000) == {:error, :system_limit}

    assert {:exception, :system_limit, _} =
             catch_error(:erpc.call(c.node, :extractor, :extract, [over], 60_000))

    assert_raise SystemLimitError, fn -> DeskExtractor.extract(over) end
    assert %{documents: 1, bytes: ^max, refused: 1} = :sys.get_state(w)
  end
end
