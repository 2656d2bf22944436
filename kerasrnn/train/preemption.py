"""Stopping on SIGTERM (a preempted machine, a cluster scheduler, Ctrl-C forwarded by
training/launch_workers.py) with a backup at the step training reached, so running again with
`resume` continues from that step, mid-epoch included.

One process notes the signal and stops after the step it is in (with gradient accumulation,
after the next step that updates the weights). In a multi-worker job
TensorFlow's `PreemptionCheckpointHandler` makes every worker stop after the same step, however
many of them got the signal; each then writes its own backup.
"""

import pathlib
import signal

import keras
import tensorflow as tf

from kerasrnn.errors import Preempted
from kerasrnn.keras_internals import inside_accumulation, steps_trained


class SaveOnPreemption(keras.callbacks.Callback):
    """Writes a mid-epoch backup and raises `Preempted` when SIGTERM arrives.

    Args:
        backup: The run's `callbacks.RunBackup` (its backup is the one written).
        distribution: The run's `kerasrnn.train.distribution.Distribution`.
        folder: Where a multi-worker job's handler keeps its own (tiny) checkpoint.
    """

    def __init__(self, backup, distribution, folder):
        super().__init__()
        self.backup, self.distribution, self.folder = backup, distribution, pathlib.Path(folder)
        self._handler = None
        self._signalled = False
        self._previous_handler = None

    def on_train_begin(self, logs=None):
        if self.distribution.workers > 1:
            config = tf.distribute.experimental.TerminationConfig(exit_fn=self._stop)
            self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                self.distribution.strategy.cluster_resolver, tf.train.Checkpoint(), str(self.folder),
                termination_config=config)
        else:
            self._previous_handler = signal.signal(signal.SIGTERM, self._note)

    def _note(self, signum, frame):
        self._signalled = True

    def on_train_batch_end(self, batch, logs=None):
        if inside_accumulation(self.model):
            return  # stop only on a weight update
        if self._handler is not None:
            self._handler.save_checkpoint_if_preempted()
        elif self._signalled:
            self._stop()

    def on_train_end(self, logs=None):
        if self._handler is not None:
            _stop_watching_peers(self._handler)
            self._handler = None
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def _stop(self):
        self.on_train_end()
        self.backup.save_backup()
        step = steps_trained(self.model)
        raise Preempted(f"stopped by SIGTERM after step {step}, with a backup to resume from; "
                        "run again with `resume` to continue")


def _stop_watching_peers(handler):
    """Ends the threads a `PreemptionCheckpointHandler` keeps waiting for the cluster's signals.

    TensorFlow ends them only in the handler's `__del__`, which never runs while its own thread
    holds it: the thread's wait then fails when the chief closes the coordination service and a
    finished run ends with its traceback ("Exception in thread PeerTerminationWatcher-1"). Each
    worker tells the cluster to stop watching and joins its own threads while every worker is
    still up (the methods `__del__` calls; where a TensorFlow lacks them nothing is done).
    """
    for name in ("_stop_cluster_wise_termination_watcher_thread", "_stop_poll_termination_signal_thread"):
        stop = getattr(handler, name, None)
        if stop is not None:
            stop()
