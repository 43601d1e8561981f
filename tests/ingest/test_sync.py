from ingest.sync import SyncPlan, plan_sync

ON_DISK = {"/d/new.txt": "h1", "/d/changed.txt": "h2", "/d/same.txt": "h3", "/d/a.txt": "h4"}
IN_STORE = {"/d/changed.txt": "old", "/d/same.txt": "h3", "/d/a.txt": "h4", "/d/gone.txt": "h5"}


def test_plan_without_prune():
    assert plan_sync(ON_DISK, IN_STORE, prune=False) == SyncPlan(
        add=["/d/new.txt"],
        update=["/d/changed.txt"],
        unchanged=["/d/a.txt", "/d/same.txt"],
        remove=[],
    )


def test_plan_with_prune():
    assert plan_sync(ON_DISK, IN_STORE, prune=True).remove == ["/d/gone.txt"]


def test_empty_inputs():
    assert plan_sync({}, {}, prune=True) == SyncPlan([], [], [], [])
    assert plan_sync({}, {"/x": "h"}, prune=True).remove == ["/x"]
    assert plan_sync({"/x": "h"}, {}, prune=False).add == ["/x"]
