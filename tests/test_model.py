"""The Model API: training output, evaluation, prediction, saving, and bad input."""

import os
import re

import numpy as np
import pytest
from nnfs.datasets import sine_data, spiral_data

import graphnn as gn
import graphnn.nn.printer as printer_module

LINE = re.compile(r"^epoch: \d+, acc: \d\.\d{3}, loss: \d+\.\d{3} \(data_loss: \d+\.\d{3}, "
                  r"reg_loss: \d+\.\d{3}\), lr: [0-9.e-]+$")


def _spiral(samples=50, classes=3, seed=0):
    np.random.seed(seed)
    X, y = spiral_data(samples=samples, classes=classes)
    return X.astype(np.float32), y


def _classifier(dropout=False, l2=5e-4, optimizer=None) -> gn.Model:
    model = gn.Model()
    model.add(gn.Dense(2, 16, weight_regularizer_l2=l2, bias_regularizer_l2=l2))
    model.add(gn.ReLU())
    if dropout:
        model.add(gn.Dropout(0.1))
    model.add(gn.Dense(16, 3))
    model.add(gn.Softmax())
    model.set(loss=gn.CategoricalCrossEntropy(), optimizer=optimizer or gn.Adam(learning_rate=0.02),
              accuracy=gn.CategoricalAccuracy())
    model.finalize()
    return model


def _snapshot(model):
    return [p.value.copy() for p in model.params]


def _unchanged(model, snapshot):
    return all(np.array_equal(p.value, s) for p, s in zip(model.params, snapshot))


# ------------------------------------------------------------ training output

def test_full_batch_training_prints_the_books_lines(capsys):
    X, y = _spiral()
    model = _classifier(optimizer=gn.Adam(learning_rate=0.05))
    history = model.train(X, y, epochs=150, print_every=50, validation_data=_spiral(seed=1))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all(LINE.match(line) for line in lines[:3]), lines
    assert [line.split(",")[0] for line in lines[:3]] == ["epoch: 50", "epoch: 100", "epoch: 150"]
    assert re.match(r"^validation, acc: \d\.\d{3}, loss: \d+\.\d{3}$", lines[3])
    assert len(history["loss"]) == 150 and history["loss"][-1] < history["loss"][0]
    assert history["validation"]["accuracy"] > 0.5
    assert model.optimizer.iterations == 150


def test_batched_training_prints_steps_and_epoch_summaries(capsys):
    X, y = _spiral()
    model = _classifier()
    model.train(X, y, epochs=2, batch_size=64, print_every=2, validation_data=(X, y))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "epoch: 1"
    # 150 samples in batches of 64: steps 0, 1, 2; every 2nd and the last print
    assert [line.split(",")[0] for line in lines[1:4]] == ["step: 0", "step: 2", "training"]
    assert lines[3].startswith("training, acc: ") and "(data_loss: " in lines[3]
    assert lines[4].startswith("validation, acc: ")
    assert lines[5] == "epoch: 2"
    assert model.optimizer.iterations == 2 * 3  # 150 samples in batches of 64: 3 steps


def test_verbose_false_prints_nothing_and_a_terminal_gets_a_progress_bar(capsys, monkeypatch):
    X, y = _spiral()
    model = _classifier()
    model.train(X, y, epochs=3, verbose=False)
    model.evaluate(X, y, verbose=False)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(printer_module, "is_terminal", lambda: True)
    model.train(X, y, epochs=3, print_every=1)
    out = capsys.readouterr().out
    assert out.count("epoch: ") == 3 and "3/3" in out  # the lines, and tqdm's bar


def test_evaluate_and_predict_with_and_without_batches(capsys):
    X, y = _spiral()
    model = _classifier()
    model.train(X, y, epochs=20, verbose=False)
    whole = model.predict(X)
    assert whole.shape == (150, 3)
    assert np.allclose(model.predict(X, batch_size=32), whole, rtol=1e-6, atol=1e-7)
    result = model.evaluate(X, y)
    batched = model.evaluate(X, y, batch_size=40)
    assert result["accuracy"] == batched["accuracy"]
    assert abs(result["loss"] - batched["loss"]) < 1e-5
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"validation, acc: {result['accuracy']:.3f}, loss: {result['loss']:.3f}"
    assert np.array_equal(model.output_layer_activation.predictions(whole), np.argmax(whole, axis=1))


@pytest.mark.parametrize("layout", ["float32", "float64 F-ordered", "int16 labels strided", "one-hot float64"])
@pytest.mark.parametrize("batch_size", [None, 7])
def test_training_looks_plans_up_once_and_trains_as_graph_run_does(layout, batch_size, monkeypatch):
    """Model.train checks its data once and finds the plan of each batch length once per run; the
    steps are the same bit for bit as through graph.run, whose feed conversions still apply."""
    X, y = _spiral(samples=20)
    if layout == "float64 F-ordered":
        X = np.asfortranarray(X.astype(np.float64))
    elif layout == "int16 labels strided":
        y = np.repeat(y.astype(np.int16), 2)[::2]  # not contiguous: made so, as a run would
    elif layout == "one-hot float64":
        y = np.asfortranarray(np.eye(3)[y])

    def train(via_run: bool):
        np.random.seed(3)
        model = _classifier(dropout=True)
        if via_run:
            monkeypatch.setattr(gn.Model, "_run_checked", lambda self, feeds, plans: self.graph.run(
                feeds, keep="fetched"))
        history = model.train(X, y, epochs=4, batch_size=batch_size, verbose=False)
        monkeypatch.undo()
        return history, [p.value.tobytes() for p in model.params], model

    fast, slow = train(False), train(True)
    assert fast[0] == slow[0] and fast[1] == slow[1]
    model = fast[2]
    assert model.optimizer.iterations == 4 * (1 if batch_size is None else 9)
    assert all(a.flags.c_contiguous for a in model.check_data(X, y))  # what the steps were given


def test_dropout_only_in_the_training_graph():
    X, y = _spiral()
    model = _classifier(dropout=True)
    train_ops = {n.op for n in model.graph.nodes}
    infer_ops = {n.op for n in model.inference_graph.nodes}
    assert "dropout_mask" in train_ops and "dropout_mask" not in infer_ops
    assert model.inference_output.name.startswith("inference/softmax")
    model.train(X, y, epochs=5, verbose=False)
    assert np.array_equal(model.predict(X), model.predict(X))  # inference draws no mask


def test_binary_and_regression_models_train():
    X, y = _spiral(classes=2)
    y = y.reshape(-1, 1)
    model = gn.Model()
    for layer in (gn.Dense(2, 16), gn.ReLU(), gn.Dense(16, 1), gn.Sigmoid()):
        model.add(layer)
    model.set(loss=gn.BinaryCrossEntropy(), optimizer=gn.Adam(learning_rate=0.01))
    model.finalize()
    assert isinstance(model.accuracy, gn.BinaryAccuracy)
    history = model.train(X, y, epochs=200, verbose=False)
    assert history["accuracy"][-1] > 0.6 and history["loss"][-1] < history["loss"][0]

    np.random.seed(0)
    X, y = sine_data(samples=200)
    model = gn.Model()
    for layer in (gn.Dense(1, 32, weight_scale=0.1), gn.ReLU(), gn.Dense(32, 32, weight_scale=0.1), gn.ReLU(),
                  gn.Dense(32, 1, weight_scale=0.1), gn.Linear()):
        model.add(layer)
    model.set(loss=gn.MeanSquaredError(), optimizer=gn.Adam(learning_rate=0.005),
              accuracy=gn.RegressionAccuracy())
    model.finalize()
    history = model.train(X, y, epochs=500, verbose=False)
    assert model.accuracy.precision == pytest.approx(np.std(y) / 250)
    assert history["loss"][-1] < 0.001 * history["loss"][0] and history["accuracy"][-1] > 0.3


def test_model_graph_renders():
    model = _classifier()
    assert any(n.op == "softmax_cce_grad" for n in model.graph.nodes)
    assert "softmax_cce_grad" in model.graph.to_dot().source


# ------------------------------------------------------------ bad input

def test_a_model_used_before_finalize():
    model = gn.Model()
    model.add(gn.Dense(2, 3))
    X, y = _spiral()
    for call in (lambda: model.train(X, y), lambda: model.evaluate(X, y), lambda: model.predict(X),
                 lambda: model.save_parameters("x.npz")):
        with pytest.raises(gn.GraphError, match=r"the model is not finalized; call model.finalize\(\)"):
            call()
    with pytest.raises(gn.GraphError, match=r"no loss; call model.set\(loss=...\) first"):
        model.finalize()


@pytest.mark.parametrize("X, y, message", [
    (np.zeros((150, 2)), np.zeros(149, int), "training data: X has 150 samples but y has 149"),
    (np.zeros((150, 3)), np.zeros(150, int),
     r"training data: X must have shape \(N, 2\) for dense1, got \(150, 3\)"),
    (np.zeros((150, 2)), np.full(150, 3), (r"class labels must lie in \[0, 3\) for the 3 outputs of "
                                           r"softmax1, got values from 3 to 3")),
    (np.zeros((150, 2)), np.full(150, -1), r"class labels must lie in \[0, 3\)"),
    (np.zeros((150, 2)), np.zeros(150), "class labels y must be integers, got float64"),
    (np.zeros((150, 2)), np.zeros((150, 4)), r"y must be class indices \(N,\) or one-hot \(N, 3\)"),
])
def test_bad_training_data_is_refused_before_any_change(X, y, message):
    model = _classifier()
    before = _snapshot(model)
    with pytest.raises(gn.GraphError, match=message):
        model.train(X, y, epochs=2)
    assert _unchanged(model, before) and model.optimizer.iterations == 0


def test_bad_validation_data_is_refused_before_training():
    X, y = _spiral()
    model = _classifier()
    before = _snapshot(model)
    with pytest.raises(gn.GraphError, match="validation data: X has 150 samples but y has 10"):
        model.train(X, y, epochs=2, validation_data=(X, y[:10]))
    assert _unchanged(model, before)


def test_binary_targets_of_the_wrong_shape():
    model = gn.Model()
    for layer in (gn.Dense(2, 4), gn.ReLU(), gn.Dense(4, 1), gn.Sigmoid()):
        model.add(layer)
    model.set(loss=gn.BinaryCrossEntropy(), optimizer=gn.Adam())
    model.finalize()
    X, y = _spiral(classes=2)
    with pytest.raises(gn.GraphError, match=r"BinaryCrossEntropy needs y of the outputs' shape \(100, 1\), "
                                            r"got \(100,\) \(reshape it with y.reshape\(-1, 1\)\)"):
        model.train(X, y)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": -1}, "epochs must be a whole number >= 0, got -1"),
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),
    ({"print_every": 0}, "print_every must be a whole number >= 1, got 0"),
    ({"validation_data": [1, 2, 3]}, r"validation_data must be a pair \(X_val, y_val\)"),
])
def test_bad_training_options(kwargs, message):
    X, y = _spiral()
    model = _classifier()
    with pytest.raises(gn.GraphError, match=message):
        model.train(X, y, **kwargs)
    assert model.optimizer.iterations == 0


def test_negative_learning_rate_and_bad_building_calls():
    with pytest.raises(gn.GraphError, match="Adam: learning_rate must be a finite number >= 0, got -0.05"):
        gn.Adam(learning_rate=-0.05)
    model = _classifier()
    with pytest.raises(gn.GraphError, match="the model is finalized; layers can no longer be added"):
        model.add(gn.ReLU())
    with pytest.raises(gn.GraphError, match="set losses with model.set"):
        gn.Model().add(gn.CategoricalCrossEntropy())
    with pytest.raises(gn.GraphError, match="optimizer must be an optimizer such as gn.Adam"):
        gn.Model().set(optimizer="adam")


# ------------------------------------------------------------ saving and loading

def test_save_parameters_and_load_parameters_round_trip(tmp_path):
    X, y = _spiral()
    model = _classifier()
    model.train(X, y, epochs=20, verbose=False)
    path = tmp_path / "params.npz"
    model.save_parameters(path)
    other = _classifier()
    other.load_parameters(path)
    assert np.array_equal(other.predict(X), model.predict(X))
    assert os.listdir(tmp_path) == ["params.npz"]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no pickle
        assert set(archive.files) == {"__graphnn__", "layer0.weights", "layer0.biases",
                                      "layer2.weights", "layer2.biases"}


def test_save_and_load_a_whole_model_continues_training_identically(tmp_path):
    X, y = _spiral()
    model = _classifier(dropout=False, optimizer=gn.Adam(learning_rate=0.02, decay=1e-3))
    model.train(X, y, epochs=10, verbose=False)
    model.save(tmp_path / "model.npz")
    loaded = gn.Model.load(tmp_path / "model.npz")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.optimizer.iterations == 10
    assert loaded.optimizer.current_learning_rate == model.optimizer.current_learning_rate
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[0].weight_regularizer_l2 == 5e-4
    model.train(X, y, epochs=5, verbose=False)
    loaded.train(X, y, epochs=5, verbose=False)
    for a, b in zip(model.params, loaded.params):
        assert np.array_equal(a.value, b.value)


def test_model_load_leaves_numpys_random_state_alone(tmp_path):
    model = _classifier()
    model.save(tmp_path / "m.npz")
    np.random.seed(3)
    expected = np.random.rand()
    np.random.seed(3)
    gn.Model.load(tmp_path / "m.npz")
    assert np.random.rand() == expected


def test_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    model = _classifier()
    path = tmp_path / "m.npz"
    model.save_parameters(path)
    before = path.read_bytes()

    def interrupted(*args, **kwargs):  # the new file is written, then the rename fails
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(gn.GraphError, match="disk full"):
        model.save_parameters(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]
    monkeypatch.undo()
    umask = os.umask(0)
    os.umask(umask)  # read it back: the file should get what open() would give
    model.save_parameters(path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.fixture
def saved(tmp_path):
    model = _classifier()
    path = tmp_path / "m.npz"
    model.save(path)
    return path


def _refused(model, path, message):
    before = _snapshot(model)
    with pytest.raises(gn.GraphError, match=message):
        model.load_parameters(path)
    assert _unchanged(model, before)


def test_truncated_corrupt_and_foreign_files_are_clear_errors(saved, tmp_path):
    model = _classifier()
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    _refused(model, truncated, "not a readable graphnn model file \\(truncated or corrupt\\?\\)")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a model" * 10)
    _refused(model, garbage, "not a readable graphnn model file")
    flipped = tmp_path / "flipped.npz"
    middle = len(data) // 2
    flipped.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    _refused(model, flipped, "not a readable graphnn model file")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros((2, 16)))
    _refused(model, foreign, "not a graphnn model file \\(no __graphnn__ record\\)")
    _refused(model, tmp_path / "missing.npz", "missing.npz: no such file")


def test_parameters_of_another_architecture_are_refused(saved):
    wider = gn.Model()
    for layer in (gn.Dense(2, 32), gn.ReLU(), gn.Dense(32, 3), gn.Softmax()):
        wider.add(layer)
    wider.set(loss=gn.CategoricalCrossEntropy(), optimizer=gn.Adam())
    wider.finalize()
    _refused(wider, saved,
             r"layer 0 \(dense\d*\) is Dense\(2, 16\) in the file but Dense\(2, 32\) in this model")
    deeper = gn.Model()
    for layer in (gn.Dense(2, 16), gn.ReLU(), gn.Dense(16, 16), gn.ReLU(), gn.Dense(16, 3), gn.Softmax()):
        deeper.add(layer)
    deeper.set(loss=gn.CategoricalCrossEntropy())
    deeper.finalize()
    _refused(deeper, saved, r"the file's model has 4 layers \(Dense\(2, 16\), ReLU\(\), Dense\(16, 3\), "
                            r"Softmax\(\)\); this model has 6")


def test_model_load_of_a_parameters_file_explains(tmp_path):
    model = _classifier()
    model.save_parameters(tmp_path / "p.npz")
    with pytest.raises(gn.GraphError, match=r"holds only parameters \(saved with save_parameters\)"):
        gn.Model.load(tmp_path / "p.npz")


def test_set_parameters_checks_shapes_first():
    model = _classifier()
    before = _snapshot(model)
    good = model.get_parameters()
    with pytest.raises(gn.GraphError,
                       match=r"set_parameters: dense\d* needs arrays of shapes \(16, 3\), \(1, 3\)"):
        model.set_parameters([good[0], (np.zeros((16, 4)), np.zeros((1, 4)))])
    assert _unchanged(model, before)
    model.set_parameters([(w * 0, b * 0) for w, b in good])
    assert all(np.all(p.value == 0) for p in model.params)


def test_one_hot_labels_train_exactly_as_class_indices():
    X, y = _spiral()
    np.random.seed(5)
    sparse = _classifier()
    np.random.seed(5)
    one_hot = _classifier()
    sparse.train(X, y, epochs=20, verbose=False)
    one_hot.train(X, np.eye(3, dtype=np.float32)[y], epochs=20, verbose=False)
    for a, b in zip(sparse.params, one_hot.params):
        assert np.array_equal(a.value, b.value)


def test_the_low_level_loop_stops_at_bad_labels_before_the_optimizer_runs():
    X, y = _spiral()
    inputs, targets = gn.Input("X"), gn.Input("y")
    dense = gn.Dense(2, 3)
    loss = gn.CategoricalCrossEntropy()(gn.Softmax()(dense(inputs)), targets)
    params = [dense.weights, dense.biases]
    grads = gn.grad(loss, params)
    step = gn.Graph([loss, *grads])
    before = [p.value.copy() for p in params]
    with pytest.raises(gn.GraphError, match=r"labels must lie in \[0, 3\), got values from 0 to 7"):
        values = step.run({inputs: X, targets: np.where(y == 2, 7, y)})
        gn.Adam().step(params, [values[g] for g in grads])
    assert all(np.array_equal(p.value, b) for p, b in zip(params, before))
