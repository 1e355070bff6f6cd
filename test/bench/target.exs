# The BEAM side of `make bench`: a node hosting what cnoded hosts, in plain Elixir, so the
# driver can measure both the same way. `:echo` behaves like workers/echo.c (replies with the
# request, counts casts, `:count` answers the count); `:demo.add/2` stands in for the C export.
defmodule BenchEcho do
  use GenServer
  def init(_), do: {:ok, 0}
  def handle_call(:count, _from, n), do: {:reply, n, n}
  def handle_call({:sleep, ms}, _from, n), do: (Process.sleep(ms); {:reply, :ok, n})
  def handle_call(req, _from, n), do: {:reply, req, n}
  def handle_cast(_msg, n), do: {:noreply, n + 1}
end

defmodule :demo do
  def add(a, b), do: a + b
end

{:ok, _} = GenServer.start(BenchEcho, [], name: :echo)
IO.puts("bench target #{node()} ready, os pid #{System.pid()}")
Process.sleep(:infinity)
