# DeskExtractor: the extractor's entity rules in Elixir, the reference the C worker
# (workers/extractor.c, whose header states the rules; README "Entity extraction") is held to,
# and the worker the BEAM nodes of the desk datacenter demo run.
#
#   DeskExtractor.extract(doc)   # %{emails: [...], urls: [...], phones: [...], dates: [...],
#                                #   money: [...], names: [...]}; badarg / system_limit
#   {:ok, pid} = DeskExtractor.start()          # or start_link/0, or a child spec
#   GenServer.call(pid, {:extract, doc})        # the same map, or {:error, :badarg | :system_limit}
#   :sys.get_state(pid)                         # %{documents:, bytes:, entities:, refused:}
#
# The scan mirrors workers/extract_scan.c matcher for matcher (byte positions, the same bounds)
# so that both give the same answer on any input, valid UTF-8 or not.
defmodule DeskExtractor do
  use GenServer

  @max_doc 16 * 1024 * 1024
  @local_max 64
  @domain_max 253
  @amount_max 32
  @phone_max 15
  @phone_min 8
  @months ~w(January February March April May June July August September October November December)
  @empty %{emails: [], urls: [], phones: [], dates: [], money: [], names: []}

  def max_doc, do: @max_doc

  @doc "The entities of a binary, by kind, each list in document order."
  def extract(doc) when is_binary(doc) do
    if byte_size(doc) > @max_doc, do: :erlang.error(:system_limit)
    n = byte_size(doc)

    doc
    |> scan(doc, 0, n, false, [])
    |> Enum.reduce(@empty, fn {kind, m}, acc -> Map.update!(acc, kind, &[m | &1]) end)
  end

  def extract(_), do: :erlang.error(:badarg)

  # ---- the worker ------------------------------------------------------------------------

  def start, do: GenServer.start(__MODULE__, [])
  def start_link, do: GenServer.start_link(__MODULE__, [])

  @impl true
  def init(_), do: {:ok, %{documents: 0, bytes: 0, entities: 0, refused: 0}}

  @impl true
  def handle_call({:extract, doc}, _from, s) when is_binary(doc) and byte_size(doc) <= @max_doc do
    r = extract(doc)
    found = Enum.reduce(r, 0, fn {_, l}, a -> a + length(l) end)

    {:reply, r,
     %{
       s
       | documents: s.documents + 1,
         bytes: s.bytes + byte_size(doc),
         entities: s.entities + found
     }}
  end

  def handle_call({:extract, doc}, _from, s) when is_binary(doc),
    do: {:reply, {:error, :system_limit}, %{s | refused: s.refused + 1}}

  def handle_call(_other, _from, s),
    do: {:reply, {:error, :badarg}, %{s | refused: s.refused + 1}}

  # ---- the scan ----------------------------------------------------------------------------

  # rest is doc from position i on; pw: is the byte before i a word byte. The result is the
  # matches, last first.
  defp scan(<<>>, _d, _i, _n, _pw, acc), do: acc
  defp scan(<<c, tail::binary>>, d, i, n, true, acc), do: scan(tail, d, i + 1, n, word?(c), acc)

  defp scan(<<c, tail::binary>> = rest, d, i, n, false, acc) do
    case first_match(c, d, i, n) do
      nil ->
        scan(tail, d, i + 1, n, word?(c), acc)

      {kind, e} ->
        len = e - i
        <<m::binary-size(len), tail2::binary>> = rest
        scan(tail2, d, e, n, word?(:binary.last(m)), [{kind, m} | acc])
    end
  end

  # url, email, money, date, phone, name: the first that matches at i. Each matcher is only
  # tried on a byte it can start with.
  defp first_match(c, d, i, n) do
    try_kind(c == ?h, :urls, &url/3, d, i, n) ||
      try_kind(alnum?(c), :emails, &email/3, d, i, n) ||
      try_kind(c in [?$, 0xE2, 0xC2] or digit?(c), :money, &money/3, d, i, n) ||
      try_kind(digit?(c) or upper?(c), :dates, &date/3, d, i, n) ||
      try_kind(c in [?+, ?(] or digit?(c), :phones, &phone/3, d, i, n) ||
      try_kind(upper?(c), :names, &name/3, d, i, n)
  end

  defp try_kind(false, _kind, _f, _d, _i, _n), do: nil

  defp try_kind(true, kind, f, d, i, n) do
    case f.(d, i, n) do
      0 -> nil
      e -> {kind, e}
    end
  end

  defguardp is_dig(c) when c in ?0..?9
  defguardp is_up(c) when c in ?A..?Z
  defguardp is_low(c) when c in ?a..?z
  defguardp is_aln(c) when is_up(c) or is_low(c) or is_dig(c)

  defp digit?(c), do: is_dig(c)
  defp upper?(c), do: is_up(c)
  defp lower?(c), do: is_low(c)
  defp alpha?(c), do: is_up(c) or is_low(c)
  defp alnum?(c), do: is_aln(c)
  # word bytes: no match starts or ends inside a word (UTF-8 bytes count as word bytes)
  defp word?(c), do: is_aln(c) or c == ?_ or c >= 0x80

  defp at(d, i, n) when i < n, do: :binary.at(d, i)
  defp at(_d, _i, _n), do: -1

  defp ends?(_d, i, n) when i >= n, do: true
  defp ends?(d, i, _n), do: not word?(:binary.at(d, i))

  # first k >= j with k == lim or k == n or not f(d[k])
  defp skip(d, k, n, lim, f) do
    if k < n and k < lim and f.(:binary.at(d, k)), do: skip(d, k + 1, n, lim, f), else: k
  end

  defp strip(d, j, k, f) do
    if k > j and f.(:binary.at(d, k - 1)), do: strip(d, j, k - 1, f), else: k
  end

  # up to max digits at i: {count, value}
  defp num(d, i, max, n), do: num(d, i, max, n, 0, 0)

  defp num(d, i, max, n, k, v) do
    c = at(d, i + k, n)
    if k < max and digit?(c), do: num(d, i, max, n, k + 1, v * 10 + c - ?0), else: {k, v}
  end

  defp prefix?(d, i, n, p), do: n - i >= byte_size(p) and binary_part(d, i, byte_size(p)) == p

  # ---- url
  defp url(d, i, n) do
    j =
      cond do
        prefix?(d, i, n, "http://") -> i + 7
        prefix?(d, i, n, "https://") -> i + 8
        true -> nil
      end

    if j do
      k =
        skip(d, j, n, n, &url_byte?/1) |> then(&strip(d, j, &1, fn c -> c in ~c".,;:!?)'\"" end))

      if k > j, do: k, else: 0
    else
      0
    end
  end

  defp url_byte?(c), do: c > 0x20 and c != 0x7F and c != ?< and c != ?>

  # ---- email
  defp email(d, i, n) do
    j = skip(d, i, n, i + @local_max + 1, &local_byte?/1)

    if j - i > @local_max or at(d, j, n) != ?@ do
      0
    else
      b = j + 1
      k = skip(d, b, n, b + @domain_max + 1, &domain_byte?/1)

      if k - b > @domain_max do
        0
      else
        k = strip(d, b, k, fn c -> c == ?. or c == ?- end)
        labels = :binary.split(binary_part(d, b, k - b), ".", [:global])
        last = List.last(labels)

        if length(labels) >= 2 and "" not in labels and byte_size(last) >= 2 and
             all_alpha?(last) and ends?(d, k, n),
           do: k,
           else: 0
      end
    end
  end

  defp local_byte?(c), do: alnum?(c) or c in ~c"._%+-"
  defp domain_byte?(c), do: alnum?(c) or c == ?. or c == ?-
  defp all_alpha?(s), do: for(<<c <- s>>, reduce: true, do: (acc -> acc and alpha?(c)))

  # ---- money
  defp amount(d, j, n) do
    if digit?(at(d, j, n)) do
      lim = j + @amount_max + 1
      k = skip(d, j, n, lim, &digit?/1) |> groups(d, j, n)

      k =
        if k - j <= @amount_max and at(d, k, n) == ?. and digit?(at(d, k + 1, n)),
          do: skip(d, k + 1, n, lim, &digit?/1),
          else: k

      if k - j > @amount_max, do: 0, else: k
    else
      0
    end
  end

  defp groups(k, d, j, n) do
    if k - j <= @amount_max and at(d, k, n) == ?, and digit?(at(d, k + 1, n)) and
         digit?(at(d, k + 2, n)) and digit?(at(d, k + 3, n)) and not digit?(at(d, k + 4, n)),
       do: groups(k + 4, d, j, n),
       else: k
  end

  defp money(d, i, n) do
    c = :binary.at(d, i)

    j =
      cond do
        c == ?$ -> i + 1
        c == 0xE2 and at(d, i + 1, n) == 0x82 and at(d, i + 2, n) == 0xAC -> i + 3
        c == 0xC2 and at(d, i + 1, n) == 0xA3 -> i + 2
        true -> 0
      end

    if j > 0 do
      k = amount(d, j, n)
      if k > 0 and ends?(d, k, n), do: k, else: 0
    else
      k = amount(d, i, n)

      if k > 0 and at(d, k, n) == ?\s and n - (k + 1) >= 3 and
           binary_part(d, k + 1, 3) in ["USD", "EUR", "GBP"] and ends?(d, k + 4, n),
         do: k + 4,
         else: 0
    end
  end

  # ---- date
  defp month_sp(d, i, n) do
    Enum.find_value(@months, 0, fn m ->
      l = byte_size(m)
      if n - i > l and binary_part(d, i, l) == m and :binary.at(d, i + l) == ?\s, do: i + l + 1
    end)
  end

  defp date(d, i, n) do
    if digit?(:binary.at(d, i)), do: numeric_date(d, i, n), else: month_first_date(d, i, n)
  end

  # March 12, 2024
  defp month_first_date(d, i, n) do
    j = month_sp(d, i, n)

    if j > 0 do
      {na, a} = num(d, j, 2, n)
      k = j + na

      if na > 0 and a in 1..31 and at(d, k, n) == ?, and at(d, k + 1, n) == ?\s and
           elem(num(d, k + 2, 4, n), 0) == 4 and ends?(d, k + 6, n),
         do: k + 6,
         else: 0
    else
      0
    end
  end

  defp numeric_date(d, i, n) do
    {ny, _} = num(d, i, 4, n)
    {nm, m} = num(d, i + 5, 2, n)
    {nd, dd} = num(d, i + 8, 2, n)

    if ny == 4 and at(d, i + 4, n) == ?- and nm == 2 and at(d, i + 7, n) == ?- and nd == 2 and
         m in 1..12 and dd in 1..31 and ends?(d, i + 10, n) do
      i + 10
    else
      {na, a} = num(d, i, 2, n)
      j = i + na
      sep = at(d, j, n)

      cond do
        a < 1 or a > 31 ->
          0

        sep in ~c"/.-" ->
          {nb, b} = num(d, j + 1, 2, n)
          k = j + 1 + nb

          if nb > 0 and b in 1..31 and at(d, k, n) == sep and elem(num(d, k + 1, 4, n), 0) == 4 and
               ends?(d, k + 5, n),
             do: k + 5,
             else: 0

        sep == ?\s ->
          k = month_sp(d, j + 1, n)
          if k > 0 and elem(num(d, k, 4, n), 0) == 4 and ends?(d, k + 4, n), do: k + 4, else: 0

        true ->
          0
      end
    end
  end

  # ---- phone
  defp phone(d, i, n) do
    j = if :binary.at(d, i) == ?+, do: i + 1, else: i
    c = at(d, j, n)
    if digit?(c) or c == ?(, do: phone_run(d, j, n, 0, 0, 0), else: 0
  end

  defp phone_run(d, j, n, digits, seps, last) when j < n do
    c = :binary.at(d, j)

    cond do
      digit?(c) ->
        if digits + 1 > @phone_max, do: 0, else: phone_run(d, j + 1, n, digits + 1, 0, j + 1)

      c in ~c" -.()" and seps + 1 <= 2 ->
        phone_run(d, j + 1, n, digits, seps + 1, last)

      true ->
        phone_end(d, n, digits, last)
    end
  end

  defp phone_run(d, _j, n, digits, _seps, last), do: phone_end(d, n, digits, last)

  defp phone_end(d, n, digits, last),
    do: if(digits >= @phone_min and ends?(d, last, n), do: last, else: 0)

  # ---- name
  defp cap_word(d, i, n) do
    if upper?(at(d, i, n)) do
      k = skip(d, i + 1, n, n, &lower?/1)
      if k - i >= 2 and ends?(d, k, n) and binary_part(d, i, k - i) not in @months, do: k, else: 0
    else
      0
    end
  end

  defp name(d, i, n) do
    case cap_word(d, i, n) do
      0 -> 0
      k -> more_words(d, k, n, 1)
    end
  end

  defp more_words(d, k, n, words) do
    next = if at(d, k, n) == ?\s, do: cap_word(d, k + 1, n), else: 0

    cond do
      next > 0 -> more_words(d, next, n, words + 1)
      words >= 2 -> k
      true -> 0
    end
  end
end
