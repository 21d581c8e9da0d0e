"""Exact resume with early stopping: fit calls of a + b + … epochs, in memory or through
save → load_checkpoint, equal one call of a + b + … epochs bit for bit — parameters, optimizer
state, the epochs run, the stop and the best epoch — whether a part ends mid-patience with the best
epoch put back, ends on its best epoch, or has already stopped. After restore_best the optimizer
is the best epoch's too."""

import numpy as np
import pytest

import relunet as rn


def _data(n=40, m0=3, mL=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m0))
    return X, np.cos(X[:, :mL]) + X[:, -mL:] ** 2


X, Y = _data()
#: with Adam(lr=0.05) and seed 1 the validation loss improves in epochs 0, 1, 4, 6, 7, …, not in 2, 3, 5
VAL = _data(n=12, seed=5)
#: fitting Y makes this validation loss worse and worse: epoch 0 stays the best
WORSE = (X[:20], -3 * Y[:20])
SIZES = [3, 16, 8, 2]


def _state(opt):
    """Every bit of the optimizer's counters, η, schedule and state arrays."""
    sd = opt.state_dict()
    return repr(sd["scalars"]), {k: [a.tobytes() for a in v] for k, v in sd["arrays"].items()}


def _record(opt):
    """Every bit of the early-stopping record the optimizer carries (None without one)."""
    rec = opt.state_dict().get("stopping")
    if rec is None:
        return None
    states = {which: None if rec[which] is None else (rec[which]["theta"].tobytes(), rec[which]["scalars"],
                                                      {k: [a.tobytes() for a in v] for k, v in rec[which]["arrays"].items()})
              for which in ("best", "last")}
    return {k: v for k, v in rec.items() if k not in ("best", "last")}, states


def _parts(parts, make_opt, tmp_path=None, validation=VAL, **kwargs):
    """Train for each number of epochs in ``parts`` in turn (through a file between parts when
    ``tmp_path`` is given): the network, the optimizer and each part's History."""
    net, opt = rn.Network(SIZES, seed=0), make_opt()
    histories, later = [], kwargs.pop("later", {})
    for i, epochs in enumerate(parts):
        if i and tmp_path is not None:
            rn.save(net, tmp_path / "ckpt.safetensors", optimizer=opt)
            del net, opt
            ck = rn.load_checkpoint(tmp_path / "ckpt.safetensors")
            net, opt = ck.net, ck.optimizer
        part_kwargs = {**kwargs, **later} if i else kwargs
        histories.append(rn.fit(net, X, Y, optimizer=opt, epochs=epochs, batch_size=10, seed=1,
                                validation_data=validation, **part_kwargs))
    return net, opt, histories


def _assert_same_run(split, straight):
    (net, opt, hs), (net1, opt1, (h,)) = split, straight
    assert net.theta.tobytes() == net1.theta.tobytes()
    assert _state(opt) == _state(opt1)
    assert _record(opt) == _record(opt1)
    assert [e for part in hs for e in part.epochs] == h.epochs
    assert [v for part in hs for v in part.val_loss] == h.val_loss
    last = hs[-1]
    assert (last.stopped_early, last.stop_reason, last.best_epoch, last.best_loss, last.restored_best) == (
        h.stopped_early, h.stop_reason, h.best_epoch, h.best_loss, h.restored_best)


ADAM = lambda: rn.Adam(lr=0.05)  # noqa: E731


@pytest.mark.parametrize("through_file", [False, True])
@pytest.mark.parametrize(
    "parts, patience, first",
    [
        # epochs 0–2, the last bad: the best (1) is put back mid-patience; epoch 3 is bad again: stop
        ([3, 3], 2, "mid-patience"),
        # the same first part; epoch 4 improves, so the run goes on to its end, epoch 5 put back to 4
        ([3, 3], 3, "mid-patience"),
        # epochs 0–1 end on an improvement: nothing to put back; epochs 2, 3 are bad: stop
        ([2, 4], 2, "on its best epoch"),
        # epoch 2 is bad and patience 1: the first part stops; the second runs no epoch
        ([3, 3], 1, "stopped"),
        # three parts, the second ending mid-patience after an improvement in it
        ([3, 3, 4], 3, "mid-patience"),
    ],
)
def test_parts_with_early_stopping_equal_one_call(tmp_path, through_file, parts, patience, first):
    kwargs = dict(early_stopping=True, patience=patience)
    split = _parts(parts, ADAM, tmp_path if through_file else None, **kwargs)
    straight = _parts([sum(parts)], ADAM, **kwargs)
    h1 = split[2][0]
    assert {"mid-patience": (h1.restored_best, h1.stopped_early), "on its best epoch": (False, False),
            "stopped": (True, True)}[first] == (h1.restored_best, h1.stopped_early)
    _assert_same_run(split, straight)


@pytest.mark.parametrize("through_file", [False, True])
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: rn.SGD(lr=0.02, momentum=0.9, nesterov=True),
        lambda: rn.SGD(lr=0.02),  # its step folds into the backward products
        lambda: rn.AdamW(lr=0.01, weight_decay=0.1, clip_norm=1.0, schedule=rn.StepDecay(step_size=2, gamma=0.5)),
        lambda: rn.Adam(lr=0.01, schedule=rn.Adaptive(patience=1, tol=10.0)),
    ],
)
def test_every_optimizer_resumes_a_run_whose_best_epoch_was_put_back(tmp_path, through_file, make_opt):
    """Epoch 0 stays the best: the first part ends two bad epochs into patience 4, with epoch 0 put
    back; the second stops at epoch 4 and puts epoch 0 back again."""
    kwargs = dict(validation=WORSE, early_stopping=True, patience=4)
    split = _parts([3, 3], make_opt, tmp_path if through_file else None, **kwargs)
    straight = _parts([6], make_opt, **kwargs)
    assert split[2][0].restored_best and not split[2][0].stopped_early
    assert straight[2][0].epochs == [0, 1, 2, 3, 4] and straight[2][0].best_epoch == 0
    _assert_same_run(split, straight)


def test_restore_best_puts_back_the_best_epochs_optimizer_state_with_its_parameters():
    states, thetas = {}, {}

    def keep(info):
        states[info.epoch], thetas[info.epoch] = _state(info.optimizer), info.net.theta.tobytes()

    net, opt = rn.Network(SIZES, seed=0), ADAM()
    h = rn.fit(net, X, Y, optimizer=opt, epochs=6, batch_size=10, seed=1, validation_data=VAL,
               early_stopping=True, patience=2, callbacks=[keep])
    assert h.restored_best and h.best_epoch == 1 and h.epochs[-1] == 3
    assert net.theta.tobytes() == thetas[1]
    assert _state(opt) == states[1] and _state(opt) != states[3]
    assert opt.epoch == 2 and opt.t == 8  # the counters at the end of epoch 1: 2 epochs of 4 steps


def test_a_later_call_without_early_stopping_goes_on_from_the_last_epoch(tmp_path):
    """Early stopping and restore_best change what is left in place, never the run itself."""
    split = _parts([3, 3], ADAM, tmp_path, early_stopping=True, patience=3, later={"early_stopping": False})
    straight = _parts([6], ADAM)
    assert split[2][0].restored_best
    assert split[0].theta.tobytes() == straight[0].theta.tobytes() and _state(split[1]) == _state(straight[1])
    assert split[2][1].epochs == [3, 4, 5] and split[1].stopping is None


def test_a_stopped_run_goes_on_under_a_larger_patience_as_if_it_had_been_given_from_the_start(tmp_path):
    split = _parts([3, 3], ADAM, tmp_path, early_stopping=True, patience=1, later={"patience": 3})
    straight = _parts([6], ADAM, early_stopping=True, patience=3)
    assert split[2][0].stopped_early and split[2][0].epochs == [0, 1, 2]
    _assert_same_run(split, straight)


def test_a_stopped_run_called_again_runs_no_epoch_and_changes_nothing():
    net, opt, (h1,) = _parts([6], ADAM, early_stopping=True, patience=2)
    theta, state, record = net.theta.tobytes(), _state(opt), _record(opt)
    h2 = rn.fit(net, X, Y, optimizer=opt, epochs=5, batch_size=10, seed=1, validation_data=VAL,
                early_stopping=True, patience=2)
    assert h1.epochs == [0, 1, 2, 3] and h2.epochs == [] and h2.steps == 0
    assert (h2.stopped_early, h2.stop_reason, h2.best_epoch, h2.best_loss, h2.restored_best) == (
        True, "early_stopping", 1, h1.best_loss, True)
    assert (net.theta.tobytes(), _state(opt), _record(opt)) == (theta, state, record)


def test_parameters_changed_after_the_best_was_put_back_are_trained_from():
    """The next call goes on from the last epoch only while θ is still the one fit put back; changed
    parameters are the user's, trained from with the optimizer as it stands and a new record."""
    net, opt, (h1,) = _parts([3], ADAM, early_stopping=True, patience=3)
    assert h1.restored_best
    net.W[0][0, 0] += 0.5
    twin, twin_opt = rn.Network(SIZES, seed=0), ADAM()
    twin.theta[...] = net.theta
    twin_opt.load_state_dict({**opt.state_dict(), "stopping": None})
    kwargs = dict(epochs=3, batch_size=10, seed=1, validation_data=VAL, early_stopping=True, patience=3)
    h = rn.fit(net, X, Y, optimizer=opt, **kwargs)
    h_twin = rn.fit(twin, X, Y, optimizer=twin_opt, **kwargs)
    assert h.epochs == h_twin.epochs == [2, 3, 4]  # from the best epoch's counters: epoch 1 ended, 2 is next
    assert net.theta.tobytes() == twin.theta.tobytes() and _state(opt) == _state(twin_opt)
    assert h.best_epoch == h_twin.best_epoch and h.val_loss == h_twin.val_loss


def test_a_checkpoint_saved_by_a_callback_after_an_epoch_resumes_exactly(tmp_path):
    """After each epoch the record describes the run as it stands: a checkpoint written then (here
    after epoch 2, the best, epoch 1, kept aside) goes on like the call that wrote it."""
    path = tmp_path / "epoch.safetensors"

    def checkpoint(info):
        if info.epoch == 2:
            rn.save(info.net, path, optimizer=info.optimizer)

    straight = _parts([6], ADAM, early_stopping=True, patience=3, callbacks=[checkpoint])
    ck = rn.load_checkpoint(path)
    assert ck.optimizer.stopping.best is not None and ck.optimizer.stopping.best_epoch == 1
    h = rn.fit(ck.net, X, Y, optimizer=ck.optimizer, epochs=3, batch_size=10, seed=1, validation_data=VAL,
               early_stopping=True, patience=3)
    net, opt, (whole,) = straight
    assert h.epochs == whole.epochs[3:] == [3, 4, 5] and h.val_loss == whole.val_loss[3:]
    assert ck.net.theta.tobytes() == net.theta.tobytes()
    assert (_state(ck.optimizer), _record(ck.optimizer)) == (_state(opt), _record(opt))
    assert (h.best_epoch, h.restored_best) == (whole.best_epoch, whole.restored_best)
