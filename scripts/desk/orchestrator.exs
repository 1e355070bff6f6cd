# The desk datacenter's orchestrator (started by scripts/desk-datacenter.sh): generates DOCS
# seeded documents, starts extractor workers on every C node (Node.spawn of the C `extractor`)
# and every BEAM node (DeskExtractor), spreads the documents over them with IN_FLIGHT jobs in
# flight per worker (each worker's slots pull the next document when they finish one, so a
# faster node takes more), checks on a sample that C and BEAM give the same answers, and prints
# throughput per node, for C nodes and BEAM nodes, and in total. Exit status 0, or 1 with the
# reason on standard error.
#
# Environment (set by the script): DESK_C_NODES, DESK_BEAM_NODES (short names, space
# separated), DESK_DOCS, DESK_SEED, DESK_WORKERS, DESK_IN_FLIGHT, DESK_DOC_BYTES, DESK_SOLO (1:
# also run the documents on each kind of node alone), DESK_CONNECT_MS (how long a node may
# take to come up, default 20000).
Code.require_file("extractor.ex", __DIR__)
Code.require_file("docgen.ex", __DIR__)

defmodule Desk.Orchestrator do
  @call_ms 60_000

  def main do
    env = fn k -> System.fetch_env!(k) end
    [_, host] = node() |> Atom.to_string() |> String.split("@")
    names = fn k -> env.(k) |> String.split() |> Enum.map(&:"#{&1}@#{host}") end
    c_nodes = names.("DESK_C_NODES")
    beam_nodes = names.("DESK_BEAM_NODES")
    n = String.to_integer(env.("DESK_DOCS"))
    seed = String.to_integer(env.("DESK_SEED"))
    per_node = String.to_integer(env.("DESK_WORKERS"))
    in_flight = String.to_integer(env.("DESK_IN_FLIGHT"))
    doc_bytes = String.to_integer(env.("DESK_DOC_BYTES"))

    for nd <- c_nodes ++ beam_nodes, do: await_node(nd, nd in beam_nodes)

    {gen_us, docs} = :timer.tc(fn -> DeskDocs.docs(seed, n, max_bytes: doc_bytes) end)
    bytes = Enum.sum(Enum.map(docs, &byte_size/1))

    say(
      "#{n} documents (#{mb(bytes)} MB, seed #{seed}, generated in #{ms(gen_us)} ms) over " <>
        "#{length(c_nodes)} C and #{length(beam_nodes)} BEAM nodes, #{per_node} workers each, " <>
        "#{in_flight} jobs in flight per worker"
    )

    workers =
      for nd <- c_nodes, _ <- 1..per_node//1 do
        {nd, :c, Node.spawn(nd, :extractor, :start, [])}
      end ++
        for nd <- beam_nodes, _ <- 1..per_node//1 do
          {:ok, pid} = :erpc.call(nd, DeskExtractor, :start, [])
          {nd, :beam, pid}
        end

    {run_us, results} = :timer.tc(fn -> run(List.to_tuple(docs), workers, in_flight) end)
    report(c_nodes, beam_nodes, workers, docs, results, run_us)
    if System.get_env("DESK_SOLO") == "1", do: solo(docs, workers, in_flight)
    agree(docs, results, c_nodes, beam_nodes)
  end

  # how long a node may take to come up (DESK_CONNECT_MS, default 20 s)
  defp connect_ms, do: String.to_integer(System.get_env("DESK_CONNECT_MS") || "20000")

  defp say(line), do: IO.puts("desk: " <> line)

  defp fail(why) do
    IO.puts(:stderr, "desk: error: " <> why)
    System.halt(1)
  end

  defp mb(bytes), do: :erlang.float_to_binary(bytes / 1_000_000, decimals: 2)
  defp ms(us), do: div(us, 1000)
  defp rate(x, us), do: x * 1_000_000 / max(us, 1)
  defp fmt(x), do: :erlang.float_to_binary(x * 1.0, decimals: 1)

  # Connect (retrying while the node starts), and for a BEAM node wait for DeskExtractor.
  defp await_node(nd, beam?),
    do: await_node(nd, beam?, System.monotonic_time(:millisecond) + connect_ms())

  defp await_node(nd, beam?, deadline) do
    ready =
      try do
        Node.connect(nd) == true and
          (not beam? or
             match?({:file, _}, :erpc.call(nd, :code, :is_loaded, [DeskExtractor], 5_000)))
      catch
        _, _ -> false
      end

    cond do
      ready ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        fail("#{nd} did not come up within #{connect_ms()} ms")

      true ->
        Process.sleep(100) && await_node(nd, beam?, deadline)
    end
  end

  # Every worker gets in_flight slots; each slot takes the next document (an atomic counter)
  # until none is left. Returns %{index => {node, kind, result}}.
  defp run(docs, workers, in_flight) do
    next = :atomics.new(1, [])
    n = tuple_size(docs)

    workers
    |> Enum.flat_map(fn w -> List.duplicate(w, in_flight) end)
    |> Enum.map(fn {nd, kind, pid} ->
      Task.async(fn -> slot(docs, n, next, nd, kind, pid, []) end)
    end)
    |> Task.await_many(:infinity)
    |> List.flatten()
    |> Map.new()
  end

  defp slot(docs, n, next, nd, kind, pid, acc) do
    i = :atomics.add_get(next, 1, 1)

    if i > n do
      acc
    else
      case GenServer.call(pid, {:extract, elem(docs, i - 1)}, @call_ms) do
        %{} = r -> slot(docs, n, next, nd, kind, pid, [{i - 1, {nd, kind, r}} | acc])
        other -> fail("document #{i - 1} on #{nd}: #{inspect(other)}")
      end
    end
  catch
    :exit, reason -> fail("a job on #{nd} failed: #{inspect(reason, limit: 10)}")
  end

  defp row(label, kind, w, sizes, us) do
    d = length(sizes)
    b = Enum.sum(sizes)

    say(
      String.pad_trailing(label, 34) <>
        String.pad_trailing(kind, 5) <>
        String.pad_leading("#{w}", 8) <>
        String.pad_leading("#{d}", 7) <>
        String.pad_leading(mb(b), 8) <>
        String.pad_leading(fmt(rate(d, us)), 10) <>
        String.pad_leading(fmt(rate(b / 1_000_000, us)), 8)
    )
  end

  defp report(c_nodes, beam_nodes, workers, docs, results, us) do
    sizes = docs |> Enum.with_index() |> Map.new(fn {d, i} -> {i, byte_size(d)} end)
    by_node = Enum.group_by(results, fn {_i, {nd, _, _}} -> nd end, fn {i, _} -> sizes[i] end)
    nw = fn nd -> Enum.count(workers, fn {w, _, _} -> w == nd end) end

    say(
      String.pad_trailing("node", 34) <>
        String.pad_trailing("kind", 5) <>
        String.pad_leading("workers", 8) <>
        String.pad_leading("docs", 7) <>
        String.pad_leading("MB", 8) <>
        String.pad_leading("docs/s", 10) <> String.pad_leading("MB/s", 8)
    )

    for nd <- c_nodes, do: row("#{nd}", "C", nw.(nd), Map.get(by_node, nd, []), us)
    for nd <- beam_nodes, do: row("#{nd}", "BEAM", nw.(nd), Map.get(by_node, nd, []), us)
    sum = fn nds -> Enum.flat_map(nds, &Map.get(by_node, &1, [])) end
    cw = Enum.sum(Enum.map(c_nodes, nw))
    bw = Enum.sum(Enum.map(beam_nodes, nw))
    row("C nodes", "C", cw, sum.(c_nodes), us)
    row("BEAM nodes", "BEAM", bw, sum.(beam_nodes), us)
    row("total", "all", length(workers), sum.(c_nodes ++ beam_nodes), us)

    if cw > 0 and bw > 0 and sum.(beam_nodes) != [] do
      per = fn nds, w -> length(sum.(nds)) / w end

      say(
        "C vs BEAM: #{fmt(per.(c_nodes, cw) / per.(beam_nodes, bw))}x the documents per worker, side by side"
      )
    end

    counts =
      for {_i, {_, _, r}} <- results, {k, l} <- r, reduce: %{} do
        acc -> Map.update(acc, k, length(l), &(&1 + length(l)))
      end

    say(
      "total: #{length(docs)} documents in #{ms(us)} ms; entities found: #{Enum.sum(Map.values(counts))} (" <>
        Enum.map_join(Enum.sort(counts), ", ", fn {k, v} -> "#{k} #{v}" end) <> ")"
    )

    if map_size(results) != length(docs),
      do: fail("#{map_size(results)} results for #{length(docs)} documents")
  end

  # SOLO: the same documents again on the C workers alone, then on the BEAM workers alone (each
  # kind with the machine to itself but for the orchestrator).
  defp solo(docs, workers, in_flight) do
    sizes = Enum.map(docs, &byte_size/1)

    rates =
      for {label, kind, tag} <- [{"C nodes alone", :c, "C"}, {"BEAM nodes alone", :beam, "BEAM"}],
          ws = Enum.filter(workers, fn {_, k, _} -> k == kind end),
          ws != [] do
        {us, res} = :timer.tc(fn -> run(List.to_tuple(docs), ws, in_flight) end)
        if map_size(res) != length(docs), do: fail("#{label}: #{map_size(res)} results")
        row(label, tag, length(ws), sizes, us)
        {kind, rate(length(docs), us) / length(ws)}
      end

    with %{c: c, beam: b} <- Map.new(rates),
         do: say("C vs BEAM alone: #{fmt(c / b)}x the documents per worker")
  end

  # A sample of documents extracted again on a C node and on a BEAM node (or here, when the run
  # has no BEAM node): both must equal each other and what the run recorded.
  defp agree(docs, results, c_nodes, beam_nodes) do
    n = length(docs)
    step = max(div(n, 50), 1)
    sample = Enum.take_every(0..(n - 1)//1, step)
    dt = List.to_tuple(docs)

    c_of = fn doc, k ->
      case c_nodes do
        [] ->
          nil

        _ ->
          :erpc.call(
            Enum.at(c_nodes, rem(k, length(c_nodes))),
            :extractor,
            :extract,
            [doc],
            @call_ms
          )
      end
    end

    beam_of = fn doc, k ->
      case beam_nodes do
        [] ->
          DeskExtractor.extract(doc)

        _ ->
          :erpc.call(
            Enum.at(beam_nodes, rem(k, length(beam_nodes))),
            DeskExtractor,
            :extract,
            [doc],
            @call_ms
          )
      end
    end

    bad =
      for {i, k} <- Enum.with_index(sample),
          doc = elem(dt, i),
          {_, _, ran} = results[i],
          b = beam_of.(doc, k),
          c = c_of.(doc, k) || b,
          not (c == b and ran == b),
          do: i

    case bad do
      [] ->
        say("agreement: #{length(sample)} sampled documents give the same entities on C and BEAM")

      _ ->
        fail(
          "C and BEAM disagree on documents #{inspect(Enum.take(bad, 10))} (of #{length(sample)} sampled)"
        )
    end
  end
end

Desk.Orchestrator.main()
System.halt(0)
