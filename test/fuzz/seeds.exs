# Seeds for the fuzz harnesses (test/fuzz/corpus/<harness>/): well-formed inputs in each
# harness's input format, made with the BEAM's own encoder, so the fuzzer starts from frames,
# terms and handshake messages a real peer sends. Run: elixir test/fuzz/seeds.exs
defmodule Seeds do
  import Bitwise
  @dir Path.join(__DIR__, "corpus")

  def t2b(t), do: :erlang.term_to_binary(t, minor_version: 2)
  # a term without its 131
  def bare(t), do: binary_part(t2b(t), 1, byte_size(t2b(t)) - 1)

  def write(kind, name, bin) do
    d = Path.join(@dir, kind)
    File.mkdir_p!(d)
    File.write!(Path.join(d, name), bin)
  end

  # rx input: [mode] then frames as [how][len:16][body]
  def rx_input(mode, frames),
    do: IO.iodata_to_binary([mode | Enum.map(frames, fn {how, f} -> [how, <<byte_size(f)::16>>, f] end)])

  def ctls do
    me = self()
    ref = make_ref()
    alias = :erlang.alias()
    [
      {:send_sender, {22, me, me}, {:"$gen_cast", {:c, 1}}},
      {:reg_send, {6, me, :"", :echo}, {:"$gen_call", {me, ref}, :hello}},
      {:monitor_p, {19, me, :echo, ref}, nil},
      {:demonitor_p, {20, me, :echo, ref}, nil},
      {:alias_send, {33, me, alias}, {ref, :reply}},
      {:link, {1, me, me}, nil},
      {:exit2, {8, me, me, :kill}, nil},
      {:spawn_request, {29, ref, me, me, {:echo, :start, 1}, [:link, :monitor]}, [1]},
      {:send_tt, {22, me, me}, %{a: [1.5, "bin", <<1::3>>, {:x, -7, 1 <<< 70}], b: fn x -> x end}}
    ]
  end

  def body_hdr0(ctl, nil), do: <<131, 68, 0>> <> bare(ctl)
  def body_hdr0(ctl, pl), do: <<131, 68, 0>> <> bare(ctl) <> bare(pl)

  # one new atom cache entry (segment 0, index 5) standing for the atom `echo`
  def body_cached(ctl, pl) do
    c = bare(ctl)
    e = <<119, 4, "echo">>
    c = :binary.replace(c, e, <<82, 0>>)
    p = if pl, do: bare(pl), else: <<>>
    <<131, 68, 1, 0x08, 5, 4, "echo">> <> c <> p
  end

  # a message in fragments: 131,69 with the header and the start, then 131,70 continuations
  def fragments(ctl, pl, size) do
    all = bare(ctl) <> bare(pl)
    parts = for <<chunk::binary-size(size) <- all>>, do: chunk
    rest = binary_part(all, length(parts) * size, byte_size(all) - length(parts) * size)
    parts = if rest == "", do: parts, else: parts ++ [rest]
    n = length(parts)
    seq = 77
    [first | more] = parts
    [<<131, 69, seq::64, n::64, 0>> <> first |
       Enum.with_index(more, fn p, i -> <<131, 70, seq::64, n - 1 - i::64>> <> p end)]
  end

  def rx do
    for {name, ctl, pl} <- ctls() do
      p = if pl, do: t2b(ctl) <> t2b(pl), else: t2b(ctl)
      write("rx", "p_#{name}", rx_input(3, [{0, <<112>> <> p}]))
      write("rx", "h0_#{name}", rx_input(0, [{0, body_hdr0(ctl, pl)}, {0, ""}]))
      write("rx", "cache_#{name}", rx_input(2, [{0, body_cached(ctl, pl)}, {0, body_cached(ctl, pl)}]))
    end
    me = self()
    big = {:"$gen_call", {me, make_ref()}, :binary.copy(<<1, 2, 3>>, 200)}
    frs = fragments({22, me, me}, big, 97)
    write("rx", "frag", rx_input(1, Enum.map(frs, &{0, &1})))
    write("rx", "frag_direct", rx_input(0, Enum.map(frs, &{0x35, &1})))
    # two sequences interleaved
    frs2 = fragments({6, me, :"", :echo}, big, 150)
    mixed = Enum.zip(frs, frs2) |> Enum.flat_map(fn {a, b} -> [{1, a}, {0, b}] end)
    write("rx", "frag_mixed", rx_input(0, mixed))
  end

  def term do
    me = self()
    terms = [
      0, 255, -1, 1 <<< 40, -(1 <<< 200), 3.25, :atom, :"", :"ångström", "string", <<1::7>>,
      [], [1, 2 | 3], ~c"chars", {}, {1, {2, {3}}}, %{}, %{k: [v: 1]}, me, make_ref(),
      fn -> :ok end, &Enum.map/2, :binary.copy("x", 300), Enum.to_list(1..300),
      {me, make_ref(), [self() | :tail]}
    ]
    terms |> Enum.with_index() |> Enum.each(fn {t, i} -> write("term", "t#{i}", <<0>> <> bare(t)) end)
    # with references to the harness's cache atoms: `82, 1` is "a", `82, 2` is "node@host"
    write("term", "refs1", <<3, 104, 3, 82, 1, 82, 2, 97, 7>>)
    write("term", "refs2", <<5, 108, 0, 0, 0, 2, 82, 4, 82, 3, 106>>)
  end

  # fuzz_ctrl's node is t@host (creation 1234), its peer peer@host (creation 7)
  def pid(node, id, cr),
    do: :erlang.binary_to_term(<<131, 88, 119, byte_size(node), node::binary, id::32, 0::32, cr::32>>)

  def ref(node, cr, n),
    do: :erlang.binary_to_term(<<131, 90, 3::16, 119, byte_size(node), node::binary, cr::32, n::32, 2::32, 3::32>>)

  def ctrl do
    p = pid("peer@host", 50, 7)
    r = ref("peer@host", 7, 1)
    mine = ref("t@host", 1234, 9)
    msgs =
      for l <- [pid("t@host", 1, 1234), pid("t@host", 2, 1234)], reduce: [] do
        acc ->
          acc ++
            [
              {{22, p, l}, {:"$gen_call", {p, r}, :hi}},
              {{2, :"", l}, :plain},
              {{1, p, l}, nil},
              {{35, 17, p, l}, nil},
              {{36, 17, p, l}, nil},
              {{3, p, l, :boom}, nil},
              {{8, p, l, :kill}, nil},
              {{24, p, l}, {:shutdown, :x}},
              {{26, p, l}, :normal},
              {{19, p, l, r}, nil},
              {{20, p, l, r}, nil},
              {{4, p, l}, nil}
            ]
      end
    named = [
      {{6, p, :"", :echo}, {:"$gen_call", {p, r}, :hi}},
      {{6, p, :"", :trap}, {:"$gen_cast", :c}},
      {{19, p, :echo, r}, nil},
      {{20, p, :echo, r}, nil},
      {{21, p, :trap, r, :noproc}, nil},
      {{27, p, :trap, r}, :gone},
      {{33, p, mine}, {:reply, 1}},
      {{29, r, p, p, {:fz, :start, 0}, [:link, :monitor]}, []},
      {{31, r, p, p, :ok}, nil},
      {{6, p, :"", :nobody}, :lost}
    ]
    (msgs ++ named)
    |> Enum.with_index()
    |> Enum.each(fn {{ctl, pl}, i} ->
      write("ctrl", "c#{i}", rx_input(0, [{0, body_hdr0(ctl, pl)}]))
    end)
    # a call, its monitor and demonitor, as a BEAM caller sends them in one read
    call = [{{19, p, :echo, r}, nil}, {{6, p, :"", :echo}, {:"$gen_call", {p, r}, :hi}}, {{20, p, :echo, r}, nil}]
    write("ctrl", "call", rx_input(0, Enum.map(call, fn {c, pl} -> {0, body_hdr0(c, pl)} end)))
  end

  # svc input: [selector] then a term without 131 (fuzz_svc.c's run/2 lists the selectors)
  def svc do
    me = self()
    m = {:global, :random_exit_name}
    [
      {0, {:init_connect, {5, 123, :x}, :"a@host", {:locker, :no_longer_a_pid, [], me}}},
      {1, {:exchange, :"a@host", [{:name, me, m}], [], 77}},
      {2, {:resolved, :"a@host", [{:insert, {:n, me, m}}, {:delete, :d}], [:"b@host"], :x, [], 5}},
      {3, {:new_nodes, :"a@host", [{:insert, {:n, me, m}}], [], [:"b@host", {:"c@host", 5}],
           {:lock, {:global, me}}}},
      {3, {:new_nodes, :"a@host", [], [], [], []}},
      {4, :"a@host"},
      {4, {:"a@host", 5}},
      {5, {:name, me, m}},
      {6, {:insert, {:n, me, m}}},
      {6, {:delete, :n}},
      {7, [1, 2, :a, "x"]},
      {8, {:id, {:echo, :start_link, [1]}, :permanent, 5000, :worker, [:echo]}},
      {8, %{id: :x, start: {:echo, :start_link, []}, restart: :temporary, shutdown: :brutal_kill,
            type: :supervisor, modules: :dynamic}},
      {8, %{id: :y, start: {:kv, :start_link, [%{}]}, shutdown: :infinity}}
    ]
    |> Enum.with_index()
    |> Enum.each(fn {{sel, t}, i} -> write("svc", "s#{i}", <<sel>> <> bare(t)) end)
  end

  # mod input: [flags] then the module: a minimal 64-bit shared object for x86-64 (one empty
  # program header) bare and in an (unsigned) container
  def mod do
    phdr = :binary.copy(<<0>>, 56)
    elf =
      <<0x7F, "ELF", 2, 1, 1, 0, 0::64, 3::little-16, 62::little-16, 1::little-32, 0::little-64,
        64::little-64, 0::little-64, 0::little-32, 64::little-16, 56::little-16, 1::little-16,
        64::little-16, 0::little-16, 0::little-16>> <> phdr
    write("mod", "elf", <<1>> <> elf)
    write("mod", "elf_signed_only", <<0>> <> elf)
    hdr = <<"CNODEMOD", 1::little-16, 1::little-16, 62::little-16, 2, 0, 1::64, byte_size(elf)::little-64>>
    write("mod", "container", <<0>> <> hdr <> :binary.copy(<<0>>, 64) <> elf)
  end

  # epmd input: [bit 0: ALIVE2 (1) or PORT2 (0) response] then epmd's bytes
  def epmd do
    write("epmd", "alive2_x", <<1, 118, 0, 1_795_000_000::32>>)
    write("epmd", "alive2", <<1, 121, 0, 3::16>>)
    write("epmd", "port2", <<0, 119, 0, 40123::16, 77, 0, 6::16, 5::16, 2::16, "c1", 0::16>>)
    write("epmd", "port2_extra", <<0, 119, 0, 40123::16, 72, 0, 6::16, 5::16, 1::16, "a", 3::16, "xyz">>)
    write("epmd", "port2_none", <<0, 119, 1>>)
  end

  # hs input: [role bit 0 (1 = acceptor), lenbytes bit 1 (4)] then messages as [len:16][msg]
  def hs do
    flags = 0x1_0F_7F_FF_FF
    msgs = fn role, ms -> IO.iodata_to_binary([role | Enum.map(ms, &[<<byte_size(&1)::16>>, &1])]) end
    name_new = <<"N", flags::64, 42::32, 6::16, "a@host">>
    name_old = <<"n", 5::16, (flags &&& 0xFFFFFFFF)::32, "a@host">>
    complement = <<"c", (flags >>> 32)::32, 42::32>>
    reply = <<"r", 1234::32>> <> :binary.copy(<<9>>, 16)
    write("hs", "acc_new", msgs.(1, [name_new, reply]))
    write("hs", "acc_old", msgs.(1, [name_old, complement, reply]))
    write("hs", "acc_tls", msgs.(3, [name_new, reply]))
    challenge = <<"N", flags::64, 99::32, 42::32, 6::16, "a@host">>
    ack = <<"a">> <> :binary.copy(<<7>>, 16)
    write("hs", "ini_ok", msgs.(0, ["sok", challenge, ack]))
    write("hs", "ini_named", msgs.(0, [<<"snamed:", 6::16, "c1@xyz", 5::32>>, challenge]))
    write("hs", "ini_nok", msgs.(0, ["snok"]))
  end
  # bifs input: [selector] then the argument list without 131; the selector indexes fuzz_bifs.c's
  # table of functions (fns[]), so these numbers follow its order
  def local_pid(id, serial \\ 1),
    do: :erlang.binary_to_term(<<131, 88, 119, 6, "t@host", id::32, serial::32, 1234::32>>)

  def bifs do
    me = self()
    p1 = local_pid(1)
    p3 = local_pid(3)
    dead = local_pid(900, 7)
    [
      {0, [p1]}, {0, [dead]}, {0, [me]},
      {1, [p1, :registered_name]}, {1, [p3, [:links, :monitors, :memory, :current_function,
          :initial_call, :dictionary, :status, :message_queue_len, :reductions, :group_leader]]},
      {1, [p1, [:bogus]]}, {1, [:not_a_pid, :links]},
      {2, []}, {3, [:total]}, {3, [[:processes, :atom, :binary]]}, {3, [:nope]},
      {4, [:process_count]}, {4, [:otp_release]}, {4, [{:allocator, :x}]}, {4, [:os_monotonic_time_source]},
      {4, [:schedulers_online]}, {4, ["system_version"]},
      {5, [:run_queue]}, {5, [:scheduler_wall_time]}, {5, [:io]}, {5, [:reductions]}, {5, [:runtime]},
      {5, [:wall_clock]}, {5, [:garbage_collection]}, {5, [:context_switches]}, {5, [:total_run_queue_lengths]},
      {6, []}, {7, [:visible]}, {7, [[:this, :connected, :hidden]]}, {7, [:known]},
      {8, []}, {9, [p1]}, {9, [make_ref()]}, {9, [:x]},
      {10, []}, {11, []}, {12, [:pg]}, {12, [:nosuch]}, {13, [p1]}, {13, [dead]},
      {14, []}, {15, [p1]}, {16, []},
      {17, [:erlang, :node, 0]}, {17, [:pg, :join, 3]}, {17, ["erlang", :node, 0]},
      {18, [dead, :kill]}, {18, [:nosuch, :normal]}, {19, [:nosuch, :hello]}, {19, [dead, {:a, 1}]},
      {20, [:fuzz_name, dead]}, {20, [:undefined, dead]}, {21, [:nosuch]}, {22, [:"b@host"]},
      {23, []}, {24, [:millisecond]}, {24, [1000]}, {25, [:native]}, {26, [:nanosecond]},
      {27, []}, {28, [:second]}, {29, [1000, :second, :millisecond]}, {29, [-5, 7, 1_000_000_000_000]},
      {29, [1 <<< 70, :native, :perf_counter]},
      {30, []}, {31, []}, {32, []}, {33, []}, {34, []}, {35, []}, {36, [:microsecond]}, {37, []},
      {38, [:native]}, {39, []}, {40, []}, {41, []}, {42, []}, {43, []}, {44, []}, {45, [:"b@host"]},
      {46, [p1]}, {46, [dead]}, {46, [{:m, :f, 0}]},
      {47, []}, {48, []}, {49, [dead]}, {50, []}, {51, []}, {52, []},
      {53, [:ets, [{:sys_hidden, true}, {:unread_hidden, false}]]}, {53, [:mnesia, []]},
      {54, [me, me, []]}, {55, [:erlang]}, {55, [:cnode]}, {56, [:code]}, {57, [:nosuch]},
      {58, []}, {59, [:x]}, {60, [:x]}, {61, [:x]}, {62, []}, {63, []}, {64, []},
      {65, [:grp, dead]}, {65, [:grp, [dead, dead]]}, {66, [:grp, dead]},
      {67, [:grp]}, {67, [:pg, :grp]}, {68, [:grp]}, {69, []}, {69, [:pg]}, {70, [:pg]},
      {71, [:grp]}, {71, [:pg, :grp]}, {72, [:pg]}, {73, [make_ref()]}, {73, [:pg, make_ref()]},
      {74, []}, {74, [:exports]}, {75, [:module]}, {76, [:attributes]}, {77, [:md5]},
      {78, [:compile]}, {79, []},
      {80, [:gname]}, {80, [{:a, 1}]}, {81, []}, {82, []}, {83, [:gname, dead]},
      {84, [{:g, 2}, dead, {:global, :random_exit_name}]}, {85, [:gname]}, {86, [:gname, :hi]}
    ]
    |> Enum.with_index()
    |> Enum.each(fn {{sel, t}, i} -> write("bifs", "b#{i}", <<sel>> <> bare(t)) end)
  end
end

Seeds.rx()
Seeds.term()
Seeds.hs()
Seeds.ctrl()
Seeds.svc()
Seeds.mod()
Seeds.epmd()
Seeds.bifs()
