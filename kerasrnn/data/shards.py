"""Which rows of a global batch each replica trains on, one rule for every dataset.

Replica (shard) `s` of `S` holds rows `[s * B / S, (s + 1) * B / S)` of every global batch of
`B` rows. Read together the shards are the batch one process trains on, so their summed
gradients are that process's, and a stateful model's replica `s` always sees the same streams.
"""

from kerasrnn.errors import InputError


def shard_rows(batch_size, shard=0, shards=1):
    """`(start, stop)` of shard `shard`'s rows in a global batch of `batch_size` rows."""
    if not 0 <= shard < shards:
        raise InputError(f"shard must be in [0, {shards}), got {shard}")
    if batch_size % shards:
        raise InputError(f"batch_size {batch_size} is the global batch and must be divisible by "
                         f"the {shards} replicas")
    rows = batch_size // shards
    return shard * rows, (shard + 1) * rows
