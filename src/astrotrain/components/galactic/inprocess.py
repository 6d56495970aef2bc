"""An in-process Flower Grid: the ServerApp's strategy drives the ClientApp in this process.

Flower's simulation engine needs Ray (a heavy optional extra, ~10 s to start); the strategies
of the Message API only call `get_node_ids` and `send_and_receive`, so a grid that hands each
message to the ClientApp directly runs the same apps, the same strategies and the same fault
paths (an exception becomes an error reply, as a SuperNode sends it) in well under a second of
overhead. It is tested against the Ray path on the same seed (tests/components/galactic/test_galactic.py).

Caveat: `Message(...)` reads the sender's identity from `flwr.supercore.task_identity`, an
internal module that `run_simulation` sets the same way; a Flower upgrade may move it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

FIRST_NODE_ID = 1001


def make_local_grid(client_app, n_nodes: int):
    from flwr.app import Context, Error, Message, RecordDict
    from flwr.serverapp import Grid
    from flwr.supercore.task_identity import TaskIdentity

    class LocalGrid(Grid):
        def __init__(self):
            TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1
            self.contexts = {
                FIRST_NODE_ID + i: Context(run_id=1, node_id=FIRST_NODE_ID + i, node_config={"partition-id": i, "num-partitions": n_nodes},
                                           state=RecordDict(), run_config={})
                for i in range(n_nodes)
            }
            self._run = None

        def set_run(self, run) -> None:
            self._run = run

        @property
        def run(self):
            return self._run

        def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
            return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

        def get_node_ids(self) -> Iterable[int]:
            return list(self.contexts)

        def push_messages(self, messages):
            raise NotImplementedError("the local grid answers in send_and_receive")

        def pull_messages(self, message_ids):
            raise NotImplementedError("the local grid answers in send_and_receive")

        def send_and_receive(self, messages, *, timeout=None):
            replies = []
            for message in messages:
                message.metadata.__dict__["_message_id"] = uuid.uuid4().hex
                node = message.metadata.dst_node_id
                try:
                    reply = client_app(message, self.contexts[node])
                except Exception as exc:  # noqa: BLE001 - what a SuperNode does: the failure becomes an error reply
                    reply = Message(Error(code=2, reason=f"{type(exc).__name__}: {exc}"), reply_to=message)
                reply.metadata.__dict__["_src_node_id"] = node
                replies.append(reply)
            return replies

    return LocalGrid()
