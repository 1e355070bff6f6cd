# DeskDocs: seeded random documents for the extractor (the desk datacenter demo's jobs and the
# interop test's comparisons): entities of every kind in several spellings, near misses of each
# kind, and filler text with non-ASCII words, mixed with random separators. The same seed
# gives the same documents on any node.
defmodule DeskDocs do
  @first ~w(Ada Alan Grace Linus Barbara Ken Dennis Margaret Edsger Donald Frances Tim Radia Niklaus Joe Robert)
  @last ~w(Lovelace Turing Hopper Torvalds Liskov Thompson Ritchie Hamilton Dijkstra Knuth Allen Berners Perlman Wirth Armstrong Virding)
  @words ~w(the a report meeting about budget we will send data node cluster worker of and in on
            for to with from by please see call pay review draft notes agenda quarterly shipped)
  @intl ["café", "naïve", "Zürich", "日本語", "Ελλάδα", "😀", "—", "…", "über", "Ærø", "São Paulo"]
  @months ~w(January February March April May June July August September October November December)
  @seps [" ", " ", " ", ", ", ". ", "\n", " (", ") ", "; ", ": ", " - ", "\t", " — ", "\"", "'"]
  @tlds ~w(com org io net co.uk de)

  @doc "n documents from seed (an integer): a list of binaries."
  def docs(seed, n, opts \\ []) do
    st = :rand.seed_s(:exsss, {seed, seed * 7 + 1, seed * 13 + 2})
    max = opts[:max_bytes] || 3000
    {docs, _} = Enum.map_reduce(1..n//1, st, fn _, st -> doc(st, max) end)
    docs
  end

  defp doc(st, max) do
    {target, st} = :rand.uniform_s(max, st)
    piece_loop(st, target, [])
  end

  defp piece_loop(st, target, acc) do
    if IO.iodata_length(acc) >= target do
      {IO.iodata_to_binary(Enum.reverse(acc)), st}
    else
      {p, st} = piece(st)
      {s, st} = pick(@seps, st)
      piece_loop(st, target, [s, p | acc])
    end
  end

  defp pick(list, st) do
    {i, st} = :rand.uniform_s(length(list), st)
    {Enum.at(list, i - 1), st}
  end

  defp int(n, st), do: :rand.uniform_s(n, st)

  defp digits(k, st) do
    Enum.map_reduce(1..k, st, fn _, st ->
      {d, st} = int(10, st)
      {?0 + d - 1, st}
    end)
    |> then(fn {ds, st} -> {List.to_string(ds), st} end)
  end

  defp piece(st) do
    {r, st} = int(100, st)

    cond do
      r <= 45 -> filler(st)
      r <= 52 -> email(st)
      r <= 58 -> url(st)
      r <= 65 -> phone(st)
      r <= 73 -> date(st)
      r <= 80 -> money(st)
      r <= 88 -> name(st)
      true -> near_miss(st)
    end
  end

  defp filler(st) do
    {k, st} = int(6, st)

    Enum.map_reduce(1..k, st, fn _, st ->
      {r, st} = int(10, st)
      if r == 1, do: pick(@intl, st), else: pick(@words, st)
    end)
    |> then(fn {ws, st} -> {Enum.join(ws, " "), st} end)
  end

  defp email(st) do
    {f, st} = pick(@first, st)
    {l, st} = pick(@last, st)
    {t, st} = pick(@tlds, st)
    {form, st} = int(3, st)

    local =
      case form do
        1 -> String.downcase(f)
        2 -> String.downcase(f) <> "." <> String.downcase(l)
        3 -> String.downcase(f) <> "+desk"
      end

    {"#{local}@#{String.downcase(l)}.#{t}", st}
  end

  defp url(st) do
    {l, st} = pick(@last, st)
    {n, st} = digits(3, st)
    {form, st} = int(3, st)

    case form do
      1 -> {"https://#{String.downcase(l)}.org/docs/#{n}", st}
      2 -> {"http://example.com/q?id=#{n}&x=#{String.downcase(l)}", st}
      3 -> {"https://www.#{String.downcase(l)}.io/", st}
    end
  end

  defp phone(st) do
    {a, st} = digits(3, st)
    {b, st} = digits(3, st)
    {c, st} = digits(4, st)
    {form, st} = int(4, st)

    case form do
      1 -> {"+1 #{a} #{b} #{c}", st}
      2 -> {"(#{a}) #{b}-#{c}", st}
      3 -> {"#{a}.#{b}.#{c}", st}
      4 -> {"+44 20 #{b}#{String.slice(c, 0, 1)} #{c}", st}
    end
  end

  defp date(st) do
    {d, st} = int(31, st)
    {m, st} = int(12, st)
    {y, st} = int(60, st)
    y = 1970 + y
    {mn, st} = pick(@months, st)
    {form, st} = int(4, st)
    p2 = fn x -> String.pad_leading("#{x}", 2, "0") end

    case form do
      1 -> {"#{y}-#{p2.(m)}-#{p2.(d)}", st}
      2 -> {"#{d}/#{m}/#{y}", st}
      3 -> {"#{d} #{mn} #{y}", st}
      4 -> {"#{mn} #{d}, #{y}", st}
    end
  end

  defp money(st) do
    {a, st} = int(99999, st)
    {c, st} = digits(2, st)
    {form, st} = int(5, st)

    big =
      if a >= 1000,
        do: "#{div(a, 1000)},#{String.pad_leading("#{rem(a, 1000)}", 3, "0")}",
        else: "#{a}"

    case form do
      1 -> {"$#{big}.#{c}", st}
      2 -> {"€#{a}", st}
      3 -> {"£#{big}", st}
      4 -> {"#{a}.#{c} USD", st}
      5 -> {"#{big} EUR", st}
    end
  end

  defp name(st) do
    {f, st} = pick(@first, st)
    {l, st} = pick(@last, st)
    {three, st} = int(4, st)
    {m, st} = pick(@first, st)
    {if(three == 1, do: "#{f} #{m} #{l}", else: "#{f} #{l}"), st}
  end

  defp near_miss(st) do
    pick(
      [
        "a@b",
        "x@y.z",
        "$ 5",
        "12345",
        "1234567890123456",
        "http://",
        "https://...",
        "March 32, 2024",
        "2024-13-01",
        "13/13/2024",
        "5 usd",
        "NASA",
        "McDonald Farm",
        "A Team",
        "US$5",
        "Ann  Lee",
        "@@@",
        "+",
        "((555))",
        "May Smith",
        "3.14159265",
        "1,2345",
        "\u00e9a@b.com",
        "2024-03-12x"
      ],
      st
    )
  end
end
