# Large terms through the echo process (BEAM fragments big messages on the way in).
CnodeTest.watchdog(240, __ENV__.file)
ExUnit.start(trace: true, timeout: 120_000)

defmodule Interop.BigTest do
  use ExUnit.Case
  import CnodeTest

  @mib 1024 * 1024

  setup do
    %{c: connect!(start_cnode())}
  end

  defp timed_echo(c, term, label) do
    {us, back} = :timer.tc(fn -> echo(c, term, 60_000) end)
    IO.puts("    #{label}: round trip #{div(us, 1000)} ms")
    back
  end

  test "a 2 MiB binary comes back equal", %{c: c} do
    bin = :crypto.strong_rand_bytes(2 * @mib)
    assert_same(timed_echo(c, bin, "2 MiB binary"), bin)
    assert echo(c, :after) == :after
  end

  test "a 64 MiB binary comes back equal", %{c: c} do
    bin = :crypto.strong_rand_bytes(64 * @mib)
    assert_same(timed_echo(c, bin, "64 MiB binary"), bin)
    assert echo(c, :after) == :after
  end

  test "a large list of mixed terms comes back equal", %{c: c} do
    list =
      for i <- 1..200_000 do
        case rem(i, 9) do
          0 -> i
          1 -> -i * 1_000_003
          2 -> i / 3
          3 -> "s#{i}"
          4 -> :"a#{rem(i, 100)}"
          5 -> {i, [i, -i]}
          6 -> %{i => "v", :k => i}
          7 -> 2 ** (64 + rem(i, 64))
          8 -> if(rem(i, 2) == 0, do: self(), else: make_ref())
        end
      end

    assert_same(timed_echo(c, list, "200_000-element mixed list"), list)
  end

  test "--no-fragments: the link offers no fragments, and large terms still come back equal", %{c: c} do
    # The default node offers fragments (the check below can fail)...
    assert wait_log(c, "connection up", 10_000) =~ "FRAGMENTS"
    whole = connect!(start_cnode(args: ["--no-fragments"]))
    # ...this one does not, so neither side cuts a large message into 64 KiB pieces.
    line = wait_log(whole, "connection up", 10_000)
    refute line =~ "FRAGMENTS"
    assert line =~ "DIST_HDR_ATOM_CACHE"

    for size <- [2 * @mib, 16 * @mib] do
      bin = :crypto.strong_rand_bytes(size)
      assert_same(timed_echo(whole, bin, "#{div(size, @mib)} MiB binary, whole"), bin)
    end

    # Concurrent callers' large messages and a small one behind them all arrive intact.
    1..4
    |> Enum.map(fn i ->
      Task.async(fn ->
        bin = <<i>> <> :crypto.strong_rand_bytes(4 * @mib)
        assert_same(echo(whole, bin, 60_000), bin, "binary #{i}")
      end)
    end)
    |> Task.await_many(90_000)

    assert echo(whole, :after) == :after
  end

  test "several 2 MiB binaries from concurrent callers each come back to their sender", %{c: c} do
    1..8
    |> Enum.map(fn i ->
      Task.async(fn ->
        bin = <<i>> <> :crypto.strong_rand_bytes(2 * @mib)
        assert_same(echo(c, bin, 60_000), bin, "binary #{i}")
      end)
    end)
    |> Task.await_many(90_000)
  end
end
