"""Five defects of Keras 3's TensorFlow trainer under `tf.distribute`, fixed for the Keras
versions they were found and tested on (`TESTED_KERAS`); any other version is refused.

1. `fit` builds the model's compiled state from one batch pulled through a throwaway iterator
   of the training data (`TensorFlowTrainer._maybe_symbolic_build`). A dataset that reshuffles
   on every pass then starts one reshuffle ahead, so a run under a strategy trains on other
   batches than the same run without one (measured: different losses from the first epoch),
   and the batch is read and decoded for nothing. Fixed: the build reads only the distributed
   dataset's element spec (one replica's shapes and dtypes), so no data is consumed.
2. The same function averages the pulled batch over replicas with `strategy.reduce` on a
   nested structure, which `MultiWorkerMirroredStrategy` cannot do (`ValueError: Attempt to
   convert a value (PerReplica...)`). Gone with fix 1.
3. `reduce_per_replica` averages scalar metrics across workers with
   `strategy.reduce("MEAN", v, axis=0)`, which fails on a scalar ("Invalid reduction dimension
   0 for input with 0 dimensions"; tensorflow/tensorflow#72388, keras-team/keras#20329). Fixed:
   scalars are reduced with `axis=None`.

4. The optimizer clips gradients (`clipvalue`, `clipnorm`, `global_clipnorm`) before it sums
   them across replicas, so each replica clips its own share of the gradient, not the gradient
   one process would clip: once clipping bites, N replicas train differently from one process.
   Fixed: when clipping is on, the replicas' gradients are summed first, then clipped, and the
   optimizer's own sum is skipped.

5. Gradient accumulation (`gradient_accumulation_steps`) cannot run under a strategy: the
   optimizer chooses between accumulating and updating with `ops.cond`, and both branches
   call `merge_call` (to update mirrored variables), which TensorFlow refuses inside a
   conditional ("merge_call called while defining a new graph or a tf.function"). Fixed: each
   replica adds its gradient to its own copy of the accumulators (as Keras does), then one
   `merge_call` that is always made chooses, in cross-replica context, between keeping that
   sum and updating: the replicas' sums are all-reduced (once per `gradient_accumulation_steps`
   batches, the point of accumulating), averaged over the steps, clipped, and applied.

`apply()` installs the fixes once; `check_versions()` says whether they apply.
"""

import threading

import keras
import tensorflow as tf

from kerasrnn.errors import InputError
from kerasrnn.keras_internals import TESTED_KERAS
TESTED_TENSORFLOW = ("2.21.",)  # prefixes
_applied = False


def check_versions():
    """Raises `InputError` unless Keras and TensorFlow are versions the fixes were tested on."""
    if keras.__version__ not in TESTED_KERAS or not tf.__version__.startswith(TESTED_TENSORFLOW):
        raise InputError(
            f"distributed training is tested on keras {' / '.join(TESTED_KERAS)} with tensorflow "
            f"{' / '.join(v + 'x' for v in TESTED_TENSORFLOW)}, and this is keras {keras.__version__} "
            f"with tensorflow {tf.__version__}; install the tested versions (the "
            "package's cpu and gpu extras pin them: pip install -e '.[cpu]') or train without distribution")


def _first_replica_spec(spec):
    """The spec of one replica's value (a `PerReplicaSpec` holds one per local replica)."""
    return spec._value_specs[0] if hasattr(spec, "_value_specs") else spec


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        data_batch = tf.nest.map_structure(_first_replica_spec,
                                           iterator._distributed_dataset.element_spec)
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    from keras.src.backend.tensorflow import trainer

    if trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
        def mean(v):
            return strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0)

        return tf.nest.map_structure(mean, values)
    return _original_reduce_per_replica(values, strategy, reduction)


_original_reduce_per_replica = None
_original_clip_gradients = None
_original_all_reduce_sum_gradients = None
_summed = threading.local()  # MirroredStrategy traces its replicas in threads of their own


def _clips(optimizer):
    return any((getattr(optimizer, name, None) or 0) > 0
               for name in ("clipnorm", "global_clipnorm", "clipvalue"))


def _clip_gradients(self, grads):
    context = tf.distribute.get_replica_context()
    if not _clips(self) or context is None or context.num_replicas_in_sync == 1:
        return _original_clip_gradients(self, grads)
    present = [g for g in grads if g is not None]
    reduced = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present) if present else [])
    grads = [next(reduced) if g is not None else None for g in grads]
    _summed.optimizers = getattr(_summed, "optimizers", set()) | {id(self)}
    return _original_clip_gradients(self, grads)


def _all_reduce_sum_gradients(self, grads_and_vars):
    done = getattr(_summed, "optimizers", set())
    if id(self) in done:  # summed before clipping, in this replica's trace
        done.discard(id(self))
        return list(grads_and_vars)
    return _original_all_reduce_sum_gradients(self, grads_and_vars)


_original_backend_apply_gradients = None


def _backend_apply_gradients(self, grads, trainable_variables):
    context = tf.distribute.get_replica_context()
    if (not self.gradient_accumulation_steps or context is None
            or context.num_replicas_in_sync == 1):
        return _original_backend_apply_gradients(self, grads, trainable_variables)
    if self.use_ema:  # not needed here, so not ported
        raise ValueError("use_ema with gradient_accumulation_steps is not supported under a strategy")
    steps = self.gradient_accumulation_steps
    accumulators = [self._accumulated_gradients[self._get_variable_index(v)].value
                    for v in trainable_variables]
    variables = [v.value for v in trainable_variables]
    # This replica's sum of its gradients so far (each replica's copy of an accumulator holds
    # its own sum; an IndexedSlices gradient becomes dense here, as without a strategy).
    sums = [g + accumulator for g, accumulator in zip(grads, accumulators)]

    def keep_or_update(strategy, sums):
        def keep():
            for total, accumulator in zip(sums, accumulators):
                strategy.extended.update(accumulator, lambda a, t: a.assign(t), args=(total,),
                                         group=False)
            return tf.constant(0)

        def update():
            reduced = strategy.extended.batch_reduce_to(
                tf.distribute.ReduceOp.SUM, list(zip(sums, variables)))
            reduced = self._clip_gradients([g / steps for g in reduced])
            self._apply_weight_decay(trainable_variables)
            self._distributed_tf_update_step(strategy, list(zip(reduced, variables)),
                                             self.learning_rate)
            for accumulator in accumulators:
                strategy.extended.update(accumulator, lambda a: a.assign(tf.zeros_like(a)),
                                         group=False)
            return tf.constant(0)

        tf.cond((self._iterations + 1) % steps == 0, update, keep)

    context.merge_call(keep_or_update, args=(sums,))


def apply():
    """Installs the fixes (idempotent). Raises `InputError` on untested Keras or TensorFlow."""
    global _applied, _original_reduce_per_replica, _original_clip_gradients
    global _original_all_reduce_sum_gradients, _original_backend_apply_gradients
    check_versions()
    if _applied:
        return
    from keras.src.backend.tensorflow import optimizer, trainer

    _original_reduce_per_replica = trainer.reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = _reduce_per_replica
    _original_clip_gradients = optimizer.TFOptimizer._clip_gradients
    _original_all_reduce_sum_gradients = optimizer.TFOptimizer._all_reduce_sum_gradients
    optimizer.TFOptimizer._clip_gradients = _clip_gradients
    optimizer.TFOptimizer._all_reduce_sum_gradients = _all_reduce_sum_gradients
    _original_backend_apply_gradients = optimizer.TFOptimizer._backend_apply_gradients
    optimizer.TFOptimizer._backend_apply_gradients = _backend_apply_gradients
    _applied = True
