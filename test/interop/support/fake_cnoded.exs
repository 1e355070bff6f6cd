# The BEAM side of fake_cnoded (see there): echo process, cnoded-style log lines on stderr.
defmodule FakeCnode do
  def say(msg), do: IO.puts(:stderr, "#{NaiveDateTime.utc_now() |> NaiveDateTime.to_iso8601()} #{msg}")
end

defmodule FakeCnode.Echo do
  use GenServer
  @impl true
  def init(_), do: {:ok, 0}
  @impl true
  def handle_call(:count, _from, n), do: {:reply, n, n}
  def handle_call(term, _from, n), do: {:reply, term, n}
  @impl true
  def handle_cast(_msg, n), do: {:noreply, n + 1}
end

defmodule FakeCnode.LogHandler do
  # turns OTP's handshake complaints into cnoded's refusal line
  def log(%{msg: msg}, _config) do
    text =
      try do
        case msg do
          {:string, s} -> IO.chardata_to_string(s)
          {:report, %{format: f, args: a}} -> :io_lib.format(f, a) |> IO.chardata_to_string()
          {:report, r} -> inspect(r)
          {f, a} -> :io_lib.format(f, a) |> IO.chardata_to_string()
        end
      rescue
        _ -> ""
      end

    cond do
      m = Regex.run(~r/Connection attempt from node (\S+) rejected\. Invalid challenge reply/, text) ->
        FakeCnode.say("handshake with #{Enum.at(m, 1)} refused: invalid challenge reply (wrong cookie?)")

      m = Regex.run(~r/Connection attempt to node (\S+) cancelled\. Invalid challenge ack/, text) ->
        FakeCnode.say("handshake with #{Enum.at(m, 1)} refused: invalid challenge ack (wrong cookie?)")

      true ->
        :ok
    end
  end
end

:ok = :logger.add_handler(:fake_cnode, FakeCnode.LogHandler, %{level: :all})
{:ok, _} = GenServer.start(FakeCnode.Echo, nil, name: :echo)

parent = self()

spawn(fn ->
  :ok = :net_kernel.monitor_nodes(true, [{:node_type, :all}, :nodedown_reason])
  send(parent, :monitoring)

  loop = fn loop ->
    receive do
      {:nodeup, n, _} ->
        FakeCnode.say("connection up: #{n}")

      {:nodedown, n, info} ->
        why =
          case info[:nodedown_reason] do
            :connection_closed -> "closed by peer"
            :net_tick_timeout -> "tick timeout"
            other -> inspect(other)
          end

        FakeCnode.say("connection down: #{n} (#{why})")
    end

    loop.(loop)
  end

  loop.(loop)
end)

receive do
  :monitoring -> :ok
end

FakeCnode.say("node #{node()} started")
for n <- System.argv(), do: Node.connect(String.to_atom(n))
Process.sleep(:infinity)
