"""The graph's node base and router: same results as streamz's own nodes, one dict lookup per routed event."""

import gc

import pytest

from thebot_panel.market.node import Node


def test_a_node_emits_to_its_downstreams_in_order_and_forgets_removed_and_collected_ones():
    source = Node()
    first, second = source.sink_to_list(), []
    mapped = source.map(lambda x: x * 10)
    mapped.sink(second.append)
    source.push(1)
    temporary = source.map(lambda x: x)    # dropped without destroy: collected like any streamz node
    del temporary
    gc.collect()
    source.push(2)
    mapped.destroy()
    source.push(3)
    assert first == [1, 2, 3] and second == [10, 20] and len(source.downstreams) == 1
    assert source.emit(4) is None and first[-1] == 4   # streamz's emit still works on it


def test_route_sends_each_event_to_the_node_of_its_key_only():
    source = Node()
    routed = source.route(lambda x: x[0])
    a, b = routed.select("a").sink_to_list(), routed.select("b").sink_to_list()
    for event in [("a", 1), ("b", 2), ("c", 3), ("a", 4)]:
        source.push(event)
    assert a == [("a", 1), ("a", 4)] and b == [("b", 2)]
    with pytest.raises(ValueError, match="already has a node for 'a'"):
        routed.select("a")
    node = routed.routes["b"]
    node.destroy()
    assert "b" not in routed.routes
    routed.select("b")                      # the key is free again


def test_each_calls_its_function_for_every_element_and_emits_nothing():
    source, seen = Node(), []
    sink = source.each(seen.append)
    downstream = sink.sink_to_list()
    for x in (1, 2, 3):
        source.push(x)
    assert seen == [1, 2, 3] and downstream == []
    sink.destroy()
    source.push(4)
    assert seen == [1, 2, 3]
