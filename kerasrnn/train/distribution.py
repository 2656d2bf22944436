"""Choosing how a run trains: one process, several devices of one machine
(`tf.distribute.MirroredStrategy`) or several processes and machines
(`tf.distribute.MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment
variable), and feeding each replica its share of every global batch.

Every batch size a training config holds is the *global* batch: replica `r` of `R` trains on
rows `[r * B / R, (r + 1) * B / R)` of the batch one process would train on, so the summed
gradients, and the weights, are those of one process on the same batch.

`choose_distribution` must run before TensorFlow runs anything else in the process: splitting a
CPU into logical devices and starting the collective runtime are only possible then.
"""

import dataclasses
import json
import pathlib

import tensorflow as tf

from kerasrnn import run_backup, run_dir
from kerasrnn.config_checks import check_accumulation, check_real
from kerasrnn.data.shards import shard_rows
from kerasrnn.errors import InputError
from kerasrnn.files import FileError
from kerasrnn.train import keras_distribute_fixes
from kerasrnn.train.rendezvous import port_of, wait_for_tasks

DISTRIBUTE_CHOICES = ("auto", "off", "mirrored", "multi-worker")
MAX_CPU_REPLICAS = 8  # logical CPU devices one process may be split into (for trying it out)
JOIN_TIMEOUT = 120.0  # seconds a multi-worker task waits for the others to come up


@dataclasses.dataclass(frozen=True)
class Distribution:
    """How a run trains.

    Attributes:
        name: `"off"`, `"mirrored"` or `"multi-worker"`.
        strategy: The `tf.distribute.Strategy` (TensorFlow's default strategy for `"off"`).
        replicas: Replicas in sync over the whole job (all workers).
        workers: Processes in the job.
        worker_index: This process's place among them (0 for one process).
        is_chief: Whether this process writes the run directory (worker 0, or the `chief` task).
    """

    name: str
    strategy: object
    replicas: int = 1
    workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    def describe(self):
        """How the run trains, in words: "N replica(s) (strategy[, over W workers])"."""
        over = f", over {self.workers} workers" if self.workers > 1 else ""
        return f"{self.replicas} replica(s) ({self.name}{over})"

    @property
    def local_replicas(self):
        return self.replicas // self.workers

    def replica_batch_size(self, batch_size):
        """`batch_size // replicas`; raises `InputError` unless the replicas divide it."""
        return shard_rows(batch_size, 0, self.replicas)[1]

    def check_steps_per_execution(self, steps_per_execution):
        """Raises `InputError` for several steps per execution over several replicas (Keras's
        compiled multi-step loop fails under a strategy with 2+ replicas)."""
        if steps_per_execution > 1 and self.replicas > 1:
            raise InputError(f"steps_per_execution {steps_per_execution} runs only on one replica; "
                             f"with {self.replicas} replicas use steps_per_execution 1 (or "
                             "`distribute` off)")

    def own_dir(self, out_dir):
        """Where this process writes: the run directory for the chief, else its worker folder
        (`worker-<index>/`, which holds only the worker's backup)."""
        out = pathlib.Path(out_dir)
        return out if self.is_chief else out / f"worker-{self.worker_index}"

    def check_time_limit(self, max_seconds):
        """Raises `InputError` for a wall-time limit on several workers: each would stop at its
        own time and leave the others waiting for it."""
        if max_seconds is not None and self.workers > 1:
            raise InputError("a time limit (max_seconds) would stop the workers at different steps; "
                             "with several workers give steps or epochs instead")

    def agreed_step(self, step):
        """The smallest of every worker's `step` (a collective: every worker must call it)."""
        if self.workers == 1:
            return step
        values = self.strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant([step], tf.int64))
        return int(tf.reduce_min(self.strategy.gather(values, axis=0)))

    def scope(self):
        """The context models and optimizers are built in."""
        return self.strategy.scope()

    def record(self, batch_size):
        """How the run is distributed, as `config.json` records it (`training.distribution`)."""
        return dict(distribute=self.name, replicas=self.replicas, workers=self.workers,
                    replica_batch_size=self.replica_batch_size(batch_size))

    def dataset(self, make_shard):
        """Feeds every replica its own shard.

        Args:
            make_shard: `(shard, shards) -> tf.data.Dataset` of shard `shard`'s per-replica
                batches (of `shards` shards, one per replica, numbered across all workers).
                Each worker calls it only for its own replicas, so a shard's data is read and
                decoded only where it is trained on.

        Returns:
            What `fit` takes: the dataset itself for one process, else a distributed dataset.
        """
        if self.name == "off":
            return make_shard(0, 1)
        local, replicas = self.local_replicas, self.replicas

        def worker_dataset(context):
            first = context.input_pipeline_id * local
            shards = [make_shard(first + r, replicas) for r in range(local)]
            if local == 1:
                return shards[0]
            # the worker deals consecutive elements to its replicas in turn
            order = tf.data.Dataset.range(local).repeat()
            return tf.data.Dataset.choose_from_datasets(shards, order)

        return self.strategy.distribute_datasets_from_function(worker_dataset)


def parse_tf_config(text):
    """Reads a `TF_CONFIG` value: `{"cluster": {"worker": ["host:port", ...], ...},
    "task": {"type": "worker", "index": i}}`.

    Returns:
        `(cluster, task_type, task_index)`, the cluster as `{type: [address, ...]}`.
    """
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"TF_CONFIG is not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise InputError('TF_CONFIG must be an object with a "cluster" object, such as '
                         '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                         '"task": {"type": "worker", "index": 0}}')
    cluster = config["cluster"]
    if not cluster.get("worker") and not cluster.get("chief"):
        raise InputError('TF_CONFIG\'s cluster names no "worker" addresses')
    for task_type, addresses in cluster.items():
        if task_type not in ("chief", "worker"):
            raise InputError(f'TF_CONFIG\'s cluster has a "{task_type}" task; only "chief" and '
                             '"worker" tasks train here')
        if not isinstance(addresses, list) or not all(
                isinstance(a, str) and port_of(a) is not None for a in addresses):
            raise InputError(f'TF_CONFIG\'s cluster "{task_type}" must be a list of "host:port" '
                             f"addresses, got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise InputError("TF_CONFIG's cluster may have one chief, not "
                         f"{len(cluster['chief'])}")
    task = config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise InputError(f'TF_CONFIG\'s "task" must name a type of its cluster '
                         f"({', '.join(cluster)}) and an index, got {task!r}")
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise InputError(f'TF_CONFIG\'s task index must be an integer from 0 to '
                         f'{len(cluster[task["type"]]) - 1}, got {index!r}')
    return cluster, task["type"], index


def _split_cpu(replicas):
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)])
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != replicas:
            raise InputError(f"replicas {replicas}: TensorFlow already runs in this process with "
                             f"{have} CPU device(s); choose the replicas before TensorFlow starts "
                             "(in a new process)") from None
    return [f"/cpu:{i}" for i in range(replicas)]


def choose_distribution(distribute="auto", replicas=None, environ=None, join_timeout=JOIN_TIMEOUT):
    """Chooses and starts the strategy a run trains under.

    Args:
        distribute: `"auto"` (multi-worker when `TF_CONFIG` is set, else mirrored over all GPUs
            when there are several or when `replicas` > 1, else off), `"off"`, `"mirrored"` or
            `"multi-worker"`.
        replicas: Mirrored only: how many devices (default all GPUs). Without GPUs the CPU is
            split into this many logical devices.
        environ: The environment the script runs in (`os.environ`), where `TF_CONFIG` is read
            (default none: a single machine).
        join_timeout: Multi-worker only: seconds to wait for every other task of the cluster
            to come up before TensorFlow joins them (`rendezvous.wait_for_tasks`; SIGTERM
            ends the wait).

    Returns:
        A `Distribution`.

    Raises:
        InputError: A bad setting or `TF_CONFIG`, this task's port taken, a task that did not
            come up within `join_timeout`, or SIGTERM while waiting; nothing is written.
    """
    environ = {} if environ is None else environ
    if distribute not in DISTRIBUTE_CHOICES:
        raise InputError(f"distribute must be one of {', '.join(DISTRIBUTE_CHOICES)}, got {distribute!r}")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1):
        raise InputError(f"replicas must be an integer >= 1, got {replicas!r}")
    tf_config = environ.get("TF_CONFIG", "").strip()
    gpus = tf.config.list_physical_devices("GPU")
    if distribute == "auto":
        if tf_config:
            distribute = "multi-worker"
        elif len(gpus) > 1 or (replicas or 1) > 1:
            distribute = "mirrored"
        else:
            distribute = "off"
    if distribute == "off":
        if (replicas or 1) != 1:
            raise InputError(f"replicas {replicas} needs distribute mirrored, not off")
        return Distribution("off", tf.distribute.get_strategy())

    if distribute == "mirrored":
        if gpus:
            count = replicas or len(gpus)
            if count > len(gpus):
                raise InputError(f"replicas {count} is more than the {len(gpus)} GPU(s) this "
                                 "machine has")
            devices = [f"/gpu:{i}" for i in range(count)]
        else:
            count = replicas or 1
            if count > MAX_CPU_REPLICAS:
                raise InputError(f"replicas {count} is more than the {MAX_CPU_REPLICAS} logical "
                                 "devices a CPU is split into here")
            keras_distribute_fixes.check_versions()
            devices = _split_cpu(count)
        keras_distribute_fixes.apply()
        return Distribution("mirrored", tf.distribute.MirroredStrategy(devices), replicas=count)

    # multi-worker
    if not tf_config:
        raise InputError("distribute multi-worker needs the TF_CONFIG environment variable (the "
                         "cluster's addresses and this worker's place in it)")
    if replicas not in (None, 1):
        raise InputError("replicas applies to distribute mirrored; a multi-worker job uses "
                         "every GPU of each worker (or its CPU)")
    check_real("join_timeout", join_timeout, low=0, low_open=True)
    cluster, task_type, index = parse_tf_config(tf_config)
    names = {(kind, i): ("chief" if kind == "chief" else f"{kind} {i}")
             for kind, addresses in cluster.items() for i in range(len(addresses))}
    others = {names[kind, i]: address for kind, addresses in cluster.items()
              for i, address in enumerate(addresses) if (kind, i) != (task_type, index)}
    wait_for_tasks(cluster[task_type][index], others, join_timeout)
    keras_distribute_fixes.apply()
    tasks = cluster.get("chief", []) + cluster.get("worker", [])
    worker_index = index + (len(cluster.get("chief", [])) if task_type == "worker" else 0)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution("multi-worker", strategy, replicas=strategy.num_replicas_in_sync,
                        workers=len(tasks), worker_index=worker_index,
                        is_chief=worker_index == 0)


def _describe(record):
    record = record or {"distribute": "off", "replicas": 1, "workers": 1}
    return (f"`distribute` {record['distribute']} over {record['replicas']} replica(s) "
            f"in {record['workers']} worker(s)")


def check_resumed(saved_record, distribution, batch_size):
    """Raises `InputError` unless a resumed run is spread as it was when it was trained (its
    backups and the char model's stream states are per replica).

    Args:
        saved_record: The run's `config.json` `training.distribution` (`None`: one process).
        distribution: The `Distribution` the resume runs under.
        batch_size: The run's global batch.
    """
    now = distribution.record(batch_size)
    before = saved_record or {"distribute": "off", "replicas": 1, "workers": 1,
                              "replica_batch_size": batch_size}
    if any(before.get(k) != now[k] for k in ("distribute", "replicas", "workers")):
        raise InputError(f"resume: the run trained with {_describe(before)}, and this resume has "
                         f"{_describe(now)}; resume it the way it was trained")


def prepare_run(distribution, out_dir, resume, run_format, max_seconds=None):
    """The start every training function shares: the run's `Distribution` (default one
    process), the folder this process writes (`Distribution.own_dir`) and the saved run's
    config when resuming (`run_dir.prepare_run_dir`; a worker that is not the chief checks no
    new run's folder: it writes only its backup).

    Returns:
        `(distribution, own_dir, saved_config_or_None)`.
    """
    distribution = distribution or choose_distribution("off")
    distribution.check_time_limit(max_seconds)
    saved = (run_dir.prepare_run_dir(out_dir, resume, run_format)
             if distribution.is_chief or resume else None)
    return distribution, distribution.own_dir(out_dir), saved


def record_distribution(config, saved, distribution):
    """`config` with its `distribution` record, once the replicas divide its global batch and
    a resume runs as the run did (`check_resumed`); raises `InputError` otherwise."""
    distribution.replica_batch_size(config.batch_size)
    if saved is not None:
        check_resumed(saved["training"].get("distribution"), distribution, config.batch_size)
    return dataclasses.replace(config, distribution=distribution.record(config.batch_size))


def without_distribution(config):
    """The settings of `config` (a config dataclass or a dict of given settings) but the
    `distribution` record, which a training function sets and checks itself."""
    given = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    given.pop("distribution", None)
    return given


def replica_sum(value):
    """`value` summed over the replicas of the step being run (`strategy.run`'s replica
    context; in one process, `value`)."""
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def epoch_run_start(distribution, own_dir, out_dir, resume, steps_per_epoch, epochs,
                    gradient_accumulation_steps):
    """Where a run trained in epochs (the ST-CNN, the captioner) starts.

    Returns:
        `(position, start_epoch, skip)`: the `run_backup.Position` (step 0 for a new run), the epoch
        the step lies in and the batches of that epoch already trained.

    Raises:
        InputError: `gradient_accumulation_steps` does not divide `steps_per_epoch`, or the run
            in `out_dir` has already trained `epochs` epochs.
        FileError: The workers' backups cannot be brought to one step (`resume_position`).
    """
    check_accumulation(gradient_accumulation_steps, steps_per_epoch, "an epoch")
    position = resume_position(distribution, own_dir, steps_per_epoch) if resume else run_backup.Position(0, 0)
    if resume and position.step >= epochs * steps_per_epoch:
        raise InputError(f"resume: {out_dir} has already trained {position.epoch} epochs, "
                         "nothing is left to train; pass a larger `epochs` to train further")
    return (position, *divmod(position.step, steps_per_epoch))


def resume_position(distribution, own_dir, steps_per_epoch):
    """Where a resumed run continues (`run_backup.Position`), the same step on every worker.

    A worker killed while the others wrote their backups may be one backup behind them; those
    ahead then go back to the backup they kept before (`run_backup.roll_back_backup`).

    Raises:
        FileError: The workers' backups cannot be brought to one step.
    """
    position = run_backup.restored_position(own_dir, steps_per_epoch)
    target = distribution.agreed_step(position.step)
    if target == position.step:
        return position
    before = run_backup.previous_step(own_dir, steps_per_epoch)
    if before == target or (target == 0 and before is None):
        run_backup.roll_back_backup(own_dir)
        return run_backup.restored_position(own_dir, steps_per_epoch)
    raise FileError(f"the backup in {pathlib.Path(own_dir) / run_dir.BACKUP_DIR} is at step "
                    f"{position.step} and another worker's at step {target}, too far apart to "
                    "resume together; delete every worker's backup folders and resume to retrain "
                    "from the first epoch")
