"""Driver for ``test_multinode``: the app's collector, joining a Ray cluster through RAY_ADDRESS.

Run as a separate process because one Python process holds one Ray connection, and the test
session's own local Ray is already connected. Prints one JSON line: the node IDs by IP and the
cluster description; the run itself is read back from the store (``OPTVIZ_DB``) by the test.
"""

from __future__ import annotations

import json
import sys
import time

import ray

from optviz.training.cluster import close_collectors, ensure_ray, get_collector, submit_group
from optviz.training.config import TrainConfig
from optviz.training.data import load_mnist


def main() -> int:
    ensure_ray()
    deadline = time.monotonic() + 60
    while ray.cluster_resources().get("GPU", 0) < 1:  # the GPU node may still be registering
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"no GPU node joined: {ray.cluster_resources()}"}))
            return 1
        time.sleep(0.2)
    collector = get_collector()
    data = load_mnist()
    config = TrainConfig(
        model="logreg", epochs=1, batch_size=50, train_subset=1_000, test_subset=500
    )
    _, (run_id,) = submit_group(collector.store, data, [("Adam", config)], "multi-node")
    deadline = time.monotonic() + 120
    while collector.store.run(run_id).active:  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    nodes = {node["NodeManagerAddress"]: node["NodeID"] for node in ray.nodes() if node["Alive"]}
    print(json.dumps({"run_id": run_id, "nodes": nodes, "ray": collector.state.ray}))
    close_collectors()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
