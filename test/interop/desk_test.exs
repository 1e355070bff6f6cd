# The desk datacenter demo (scripts/desk-datacenter.sh) run small: it exits 0, prints its
# report (per node, C and BEAM totals, entities, agreement), and leaves none of the processes
# it started behind, also when interrupted; bad settings are refused with status 2.
ExUnit.start(timeout: 120_000)
CnodeTest.watchdog(200, __ENV__.file)

defmodule Interop.DeskTest do
  use ExUnit.Case
  import CnodeTest

  @script Path.expand("../../scripts/desk-datacenter.sh", __DIR__)

  defp env(extra), do: Enum.uniq_by(extra ++ [{"CNODED", cnoded!()}], &elem(&1, 0))

  defp run(extra) do
    System.cmd("timeout", ["-k", "5", "90", "bash", @script],
      env: env(extra),
      stderr_to_stdout: true
    )
  end

  defp pids_started(out) do
    Regex.scan(~r/\(.*pid (\d+)\)/, out) |> Enum.map(fn [_, p] -> String.to_integer(p) end)
  end

  defp assert_all_gone(out) do
    pids = pids_started(out)
    assert pids != []

    for p <- pids,
        do: assert(eventually(fn -> not os_alive?(p) end, 5_000), "pid #{p} left running")
  end

  test "one C node and one BEAM node: report, agreement, clean exit" do
    {out, rc} =
      run([
        {"DOCS", "200"},
        {"C_NODES", "1"},
        {"BEAM_NODES", "1"},
        {"WORKERS_PER_NODE", "2"},
        {"SOLO", "1"}
      ])

    assert rc == 0, out
    assert out =~ ~r/desk: 200 documents \([\d.]+ MB, seed 1/
    assert out =~ ~r/desk: desk_c1_\d+@\S+\s+C\s+2\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+/
    assert out =~ ~r/desk: desk_b1_\d+@\S+\s+BEAM\s+2\s+\d+/
    assert out =~ ~r/desk: C nodes\s+C\s+2\s+\d+/
    assert out =~ ~r/desk: BEAM nodes\s+BEAM\s+2\s+\d+/
    assert [_, total] = Regex.run(~r/desk: total\s+all\s+4\s+(\d+)/, out)
    assert total == "200"

    assert out =~
             ~r/entities found: [1-9]\d* \(dates \d+, emails \d+, money \d+, names \d+, phones \d+, urls \d+\)/

    assert out =~ ~r/desk: C vs BEAM: [\d.]+x the documents per worker, side by side/
    assert out =~ ~r/desk: C nodes alone\s+C\s+2\s+200\s/
    assert out =~ ~r/desk: BEAM nodes alone\s+BEAM\s+2\s+200\s/
    assert out =~ ~r/desk: C vs BEAM alone: [\d.]+x/
    assert out =~ "agreement: 50 sampled documents give the same entities on C and BEAM"
    assert_all_gone(out)
  end

  test "C nodes only (checked against the reference in the orchestrator), other settings" do
    {out, rc} =
      run([
        {"DOCS", "150"},
        {"C_NODES", "2"},
        {"BEAM_NODES", "0"},
        {"WORKERS_PER_NODE", "1"},
        {"IN_FLIGHT", "2"},
        {"SEED", "9"},
        {"DOC_BYTES", "500"}
      ])

    assert rc == 0, out
    assert out =~ "seed 9"
    assert out =~ ~r/desk: desk_c2_\d+@\S+\s+C\s+1\s+\d+/
    assert out =~ ~r/desk: total\s+all\s+2\s+150 /
    assert out =~ "agreement: 50 sampled documents"
    refute out =~ "alone"
    assert_all_gone(out)
  end

  test "a node that does not come up: status 1, the reason, and everything stopped" do
    {out, rc} =
      run([{"CNODED", "/bin/false"}, {"CONNECT_MS", "3000"}, {"DOCS", "10"}, {"BEAM_NODES", "1"}])

    assert rc == 1, out
    assert out =~ ~r/desk: error: desk_c1_\d+@\S+ did not come up within 3000 ms/
    assert length(pids_started(out)) == 4
    assert_all_gone(out)
  end

  test "bad settings are refused before anything starts" do
    for bad <- [
          [{"DOCS", "abc"}],
          [{"DOCS", "0"}],
          [{"C_NODES", "0"}, {"BEAM_NODES", "0"}],
          [{"WORKERS_PER_NODE", "0"}],
          [{"CONNECT_MS", "x"}]
        ] do
      {out, rc} = run(bad)
      assert rc == 2, "#{inspect(bad)}: #{out}"
      assert out =~ "desk: error:"
      assert pids_started(out) == []
    end
  end

  test "interrupted (SIGINT) while the orchestrator works: everything it started is stopped" do
    bash = System.find_executable("bash")

    port =
      Port.open({:spawn_executable, bash}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        args: [@script],
        env: for({k, v} <- env([{"DOCS", "100000"}]), do: {~c"#{k}", ~c"#{v}"})
      ])

    {:os_pid, script_pid} = Port.info(port, :os_pid)
    out = collect(port, "started the orchestrator", "")
    assert {_, 0} = System.cmd("kill", ["-INT", "#{script_pid}"])
    {out, status} = finish(port, out)
    assert status == 130, out
    assert out =~ "interrupted"
    assert length(pids_started(out)) == 4
    assert_all_gone(out)
  end

  defp collect(port, want, acc) do
    receive do
      {^port, {:data, d}} ->
        acc = acc <> d
        if acc =~ want, do: acc, else: collect(port, want, acc)

      {^port, {:exit_status, s}} ->
        flunk("the demo ended (#{s}) before #{inspect(want)}:\n#{acc}")
    after
      30_000 -> flunk("no #{inspect(want)} within 30 s:\n#{acc}")
    end
  end

  defp finish(port, acc) do
    receive do
      {^port, {:data, d}} -> finish(port, acc <> d)
      {^port, {:exit_status, s}} -> {acc, s}
    after
      30_000 -> flunk("the demo did not end within 30 s of SIGINT:\n#{acc}")
    end
  end
end
