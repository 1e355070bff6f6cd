# The BEAM side of cnoded's `kv` worker: the same calls and the same state (a map), and both
# halves of state handoff. cnode_import/1 lets cnode:handoff/2 move a kv worker from a C node
# to a BEAM node that has this module loaded; handoff/2 (or the same {'$cnode_handoff', Node}
# call cnode:handoff/2 makes) moves it on, to a C node or a BEAM node, the way cnoded does: its
# :global name goes with it, and the old process forwards what still comes to it for 5 s, then
# ends {shutdown, {handoff, New}}.
defmodule :kv do
  use GenServer
  @grace 5_000

  def cnode_import(state) when is_map(state), do: GenServer.start(__MODULE__, state)
  def handoff(pid, node), do: GenServer.call(pid, {:"$cnode_handoff", node}, 30_000)

  @impl true
  def init(state), do: {:ok, state}

  @impl true
  def handle_call(req, from, {:forward, new} = s) do
    send(new, {:"$gen_call", from, req}) # the answer comes from the new process
    {:noreply, s}
  end

  def handle_call({:"$cnode_handoff", node}, _from, s) do
    case :erpc.call(node, :kv, :cnode_import, [s], 15_000) do
      {:ok, new} ->
        # a :global name goes with it, as cnoded moves it
        for n <- :global.registered_names(), :global.whereis_name(n) == self(),
            do: :global.re_register_name(n, new)
        Process.send_after(self(), :handoff_done, @grace)
        {:reply, {:ok, new}, {:forward, new}}

      other ->
        {:reply, {:error, {:import_failed, other}}, s}
    end
  catch
    kind, reason -> {:reply, {:error, {:import_failed, {kind, reason}}}, s}
  end

  def handle_call({:put, k, v}, _from, s), do: {:reply, :ok, Map.put(s, k, v)}
  def handle_call({:get, k}, _from, s), do: {:reply, Map.fetch(s, k), s}
  def handle_call({:delete, k}, _from, s), do: {:reply, :ok, Map.delete(s, k)}
  def handle_call(:keys, _from, s), do: {:reply, Map.keys(s), s}

  @impl true
  def handle_cast(msg, {:forward, new} = s), do: (GenServer.cast(new, msg); {:noreply, s})
  def handle_cast({:put, k, v}, s), do: {:noreply, Map.put(s, k, v)}

  @impl true
  def handle_info(:handoff_done, {:forward, new} = s), do: {:stop, {:shutdown, {:handoff, new}}, s}
  def handle_info(msg, {:forward, new} = s), do: (send(new, msg); {:noreply, s})
  def handle_info(_msg, s), do: {:noreply, s}
end
