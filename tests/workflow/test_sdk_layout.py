"""What the event store reads that the SDK does not promise: the SDK core's layout of a
local activity's marker, where validation's result (OrderReceived and OrderValidated) is
recorded. Run against the SDK installed (the constraints file pins the one tested), so
an upgrade that changes the layout fails here, by name, not as orders that read back
without their first two events."""

import temporalio
from temporalio.api.enums.v1 import EventType

from eventstore import LOCAL_ACTIVITY_LAYOUT, local_activity_result
from tests.orders import ORDER_001, open_shop, renamed


async def test_the_sdk_core_still_records_a_local_activitys_result_as_the_event_store_reads_it(
    time_skipping_env, task_queue, ledger, unique
):
    order = renamed(ORDER_001, unique)
    async with open_shop(time_skipping_env, task_queue, ledger) as shop:
        handle = await shop.start(order)
        await handle.result()
    history = await handle.fetch_history()
    markers = [event for event in history.events if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    read = [found for event in markers if (found := local_activity_result(event)) is not None]

    recorded = [
        (event.marker_recorded_event_attributes.marker_name, sorted(event.marker_recorded_event_attributes.details))
        for event in markers
    ]
    changed = (
        f"temporalio {temporalio.__version__} no longer records a local activity's result as {LOCAL_ACTIVITY_LAYOUT}"
        f" (markers recorded: {recorded}); eventstore/history.py's local_activity_result must learn the new layout"
        " before this SDK is used"
    )
    assert [activity_type for activity_type, _ in read] == ["validate_order"], changed
    ((_, result),) = read
    assert len(result) == 1 and b'"OrderReceived"' in result[0].data and b'"OrderValidated"' in result[0].data, changed
