"""The ids a walk has seen, kept on disk: what `orders reconcile` and the event store's
walks hold instead of a set that grows with the shop."""

from storage import SeenIds


def test_seen_ids_answer_which_of_many_ids_were_not_seen_in_their_order():
    with SeenIds() as seen:
        seen.add(f"order-{n}" for n in range(0, 3000, 2))
        seen.add(["order-0", "order-2"])  # seen twice is seen once
        asked = [f"order-{n}" for n in range(2999, -1, -1)]

        unseen = seen.unseen(asked)

    assert unseen == [f"order-{n}" for n in range(2999, -1, -2)]


def test_nothing_seen_leaves_every_id_unseen_and_none_asked_gives_none():
    with SeenIds() as seen:
        assert seen.unseen(["a", "b", "a"]) == ["a", "b", "a"]
        assert seen.unseen([]) == []
