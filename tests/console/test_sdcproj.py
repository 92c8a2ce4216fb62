""".sdcproj import/export: the 19 NNC samples round-trip to identical text, edits touch only what changed, documents
built from scratch give the structure NNC writes, malformed files are refused with the line and key."""

from __future__ import annotations

import configparser
import copy
import difflib
import json
import random
import re

import pytest

from nnl.console.sdcproj import SdcprojError, read_sdcproj, write_sdcproj

from .conftest import SAMPLES, read_text, require_samples


def _sections(text: str) -> list[str]:
    return re.findall(r"^\[(.*)\]$", text, flags=re.M)


def _changed_lines(before: str, after: str) -> list[str]:
    return [d for d in difflib.ndiff(before.splitlines(), after.splitlines()) if d[:1] in "+-"]


def test_samples_present():
    assert len(require_samples()) == 19


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem[:50] for p in SAMPLES])
def test_sample_round_trips_exactly(path):
    text = read_text(path)
    project = read_sdcproj(text, name=path.stem, source=str(path))
    assert write_sdcproj(project) == text
    # through the .nnlproj JSON form as well, and with Windows line endings
    assert write_sdcproj(json.loads(json.dumps(project))) == text
    crlf = text.replace("\n", "\r\n")
    assert write_sdcproj(read_sdcproj(crlf)) == crlf


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem[:50] for p in SAMPLES])
def test_sample_content_matches_an_independent_ini_reader(path):
    text = read_text(path)
    ini = configparser.RawConfigParser(strict=True, interpolation=None)
    ini.optionxform = str  # keep key case
    ini.read_string(text)
    project = read_sdcproj(text)
    networks = project["networks"]
    if ini.has_section("Global"):
        assert [n["name"] for n in networks] == [ini["Global"][f"Network_{i}"]
                                                 for i in range(int(ini["Global"]["NumNetwork"]))]
        prefixes = [n["name"] + "_" for n in networks]
    else:
        assert [n["name"] for n in networks] == ["Main"]
        prefixes = [""]
    for network, prefix in zip(networks, prefixes):
        layer_sections = [ini[s] for s in ini.sections() if re.fullmatch(re.escape(prefix) + r"Layer_\d+", s)]
        by_id = {int(s["ID"]): s for s in layer_sections}
        assert len(network["layers"]) + len(network["comments"]) == len(layer_sections)
        for layer in network["layers"]:
            section = by_id[layer["id"]]
            assert layer["type"] == section["Type"]
            assert [layer["x"], layer["y"], layer["width"], layer["height"]] == [
                int(section[f"Position_{i}"]) for i in range(4)]
            names = [section[f"Property_{i}_Name"] for i in range(int(section["NumProperty"]))]
            values = [section[f"Property_{i}_Value"] for i in range(int(section["NumProperty"]))]
            assert ["Name", *layer["properties"]] == names
            # configparser strips surrounding spaces, which the .sdcproj reader keeps
            assert [v.strip() for v in (layer["name"], *layer["properties"].values())] == values
        for comment in network["comments"]:
            assert by_id[comment["id"]]["Type"] == "Comment"
            assert comment["text"].strip() == by_id[comment["id"]]["Property_1_Value"].replace("\\n", "\n")
        link_sections = [ini[s] for s in ini.sections() if re.fullmatch(re.escape(prefix) + r"Link_\d+", s)]
        assert [(k["id"], k["source"], k["source_pin"], k["dest"], k["dest_pin"]) for k in network["links"]] == [
            tuple(int(s[k]) for k in ("ID", "SourceLayerID", "SourcePinIndex", "DestLayerID", "DestPinIndex"))
            for s in link_sections]
    if ini.has_section("Config"):
        config = ini["Config"]
        assert project["config"]["max_epoch"] == int(config["MaxEpoch"])
        assert project["config"]["batch_size"] == int(config["BatchSize"])
        assert project["config"]["save_best"] == (config["SaveBest"] == "1")
        assert len(project["optimizers"]) == int(config["NumOptimizer"])
        for i, optimizer in enumerate(project["optimizers"]):
            section = ini[f"Optimizer_{i}"]
            assert optimizer["solver"] == section["SolverName"]
            assert optimizer["network"] == section["Optimizer_NetworkName"]
            assert optimizer["solver_parameters"] == {
                section[f"SolverParameterName_{j}"]: section[f"SolverParameter_{j}"]
                for j in range(int(section["SolverParameterNum"]))}
            assert optimizer["weight_decay"] == float(section["WeightDecay"])
        assert [m["name"] for m in project["monitors"]] == [
            ini[f"Monitor_{i}"]["Monitor_Name"] for i in range(int(config["NumMonitor"]))]
        assert [e["network"] for e in project["executors"]] == [
            ini[f"Executor_{i}"]["Executor_NetworkName"] for i in range(int(config["NumExecutor"]))]
    if ini.has_section("Dataset"):
        assert [(d["name"], d["uri"], d["shuffle"]) for d in project["datasets"]] == [
            (ini[f"Dataset_{i}"]["Name"], ini[f"Dataset_{i}"]["URI"], ini[f"Dataset_{i}"]["Shuffle"] == "1")
            for i in range(int(ini["Dataset"]["Num"]))]
    if ini.has_section("Description"):
        assert project["description"].strip() == ini["Description"]["Text"].replace("\\n", "\n")


def _lenet():
    path = next((p for p in require_samples() if "MNIST_LeNet" in p.name), None)
    assert path is not None
    return read_text(path)


def test_lenet_values():
    project = read_sdcproj(_lenet(), name="lenet")
    assert project["name"] == "lenet" and project["format"] == "nnl-project"
    (main,) = project["networks"]
    assert main["name"] == "Main"
    types = [layer["type"] for layer in main["layers"]]
    assert types == ["Input", "Convolution", "MaxPooling", "Convolution", "MaxPooling", "Tanh", "Affine", "Affine",
                     "Softmax", "ReLU", "ReLU", "CategoricalCrossEntropy"]
    assert main["layers"][0]["properties"]["Size"] == "1,28,28"
    assert main["layers"][1]["properties"]["KernelShape"] == "7,7"
    assert project["config"] == {"max_epoch": 10, "save_best": True, "batch_size": 64, "type_config": "float",
                                 "monitor_interval": 10}
    (optimizer,) = project["optimizers"]
    assert optimizer["solver"] == "Adam" and optimizer["solver_parameters"]["Epsilon"] == "1e-08"
    assert project["executors"][0] == {"name": "Executor", "network": "MainRuntime", "dataset": "Validation",
                                       "num_evaluations": 1, "repeat_evaluation_type": "mean",
                                       "need_back_propagation": False}
    assert [d["name"] for d in project["datasets"]] == ["Training", "Validation"]


def test_editing_one_property_changes_one_line():
    text = _lenet()
    project = read_sdcproj(text)
    project["networks"][0]["layers"][1]["properties"]["OutMaps"] = "32"
    project["config"]["max_epoch"] = 3
    out = write_sdcproj(project)
    changes = _changed_lines(text, out)
    # keys the file left out (TypeConfig, MonitorInterval) stay out while they keep the value their absence means
    assert sorted(changes) == sorted(["- Property_1_Value=16", "+ Property_1_Value=32", "- MaxEpoch=10",
                                      "+ MaxEpoch=3"])
    project["config"]["type_config"] = "half"
    assert "BatchSize=64\nTypeConfig=Half\nNumOptimizer=1" in write_sdcproj(project)
    assert read_sdcproj(out)["networks"] == project["networks"]


def test_deleting_a_layer_renumbers_sections_and_reads_back():
    project = read_sdcproj(_lenet())
    main = project["networks"][0]
    removed = main["layers"].pop(5)  # Tanh_2
    main["links"] = [k for k in main["links"] if removed["id"] not in (k["source"], k["dest"])]
    out = write_sdcproj(project)
    assert "NumLayer=11" in out and "NumLink=9" in out and "[Layer_11]" not in out
    again = read_sdcproj(out)
    assert again["networks"] == project["networks"]
    assert again["config"] == project["config"] and again["optimizers"] == project["optimizers"]


def test_unknown_sections_and_keys_are_kept_in_place_even_after_edits():
    text = _lenet()
    text = text.replace("[Layer_1]\nID=1\n", "[Layer_1]\nID=1\nRepeatTimes=3\n")
    text = text.replace("[Dataset]\n", "[Plugin]\nName=x=y\nMode=\n[Dataset]\n")
    text = text.replace("UpdateInterval=1\nSolverName=Adam", "UpdateInterval=1\nFutureKey=7\nSolverName=Adam")
    project = read_sdcproj(text)
    assert write_sdcproj(project) == text
    project["networks"][0]["layers"][1]["properties"]["OutMaps"] = "8"
    project["optimizers"][0]["solver_parameters"]["Alpha"] = "0.01"
    out = write_sdcproj(project)
    assert "[Layer_1]\nID=1\nRepeatTimes=3\nType=Convolution" in out
    assert "[Plugin]\nName=x=y\nMode=\n[Dataset]\n" in out
    assert "UpdateInterval=1\nFutureKey=7\nSolverName=Adam" in out and "SolverParameter_0=0.01" in out
    assert sorted(_changed_lines(text, out)) == sorted(["- Property_1_Value=16", "+ Property_1_Value=8",
                                                        "- SolverParameter_0=0.001", "+ SolverParameter_0=0.01"])


def test_comments_keep_their_place_among_layers():
    path = next(p for p in require_samples() if "vae" in p.name)
    text = read_text(path)
    project = read_sdcproj(text)
    main = project["networks"][0]
    assert [c["text"] for c in main["comments"]][:2] == ["log(sigma_q^2)", "log(qz)=-0.5*(1 + log(q_sigma2))"]
    main["comments"][0]["text"] = "first line\nsecond line"
    out = write_sdcproj(project)
    assert _changed_lines(text, out) == ["- Property_1_Value=log(sigma_q^2)",
                                         "+ Property_1_Value=first line\\nsecond line"]
    assert read_sdcproj(out)["networks"][0]["comments"][0]["text"] == "first line\nsecond line"


def _from_scratch():
    layer = {"id": 0, "type": "Input", "name": "Input", "x": 24, "y": 24, "width": 240, "height": 48,
             "properties": {"Size": "1,28,28", "Dataset": "x"}}
    affine = {"id": 1, "type": "Affine", "name": "Affine", "x": 24, "y": 72, "width": 240, "height": 48,
              "properties": {"OutShape": "10"}}
    return {"format": "nnl-project", "version": 1, "name": "scratch", "description": "two\nlines",
            "networks": [{"name": "Main", "layers": [layer, affine],
                          "links": [{"id": 0, "source": 0, "source_pin": 0, "dest": 1, "dest_pin": 0}],
                          "comments": [{"id": 7, "name": "Comment", "x": 300, "y": 24, "width": 240, "height": 48,
                                        "text": "hello"}]}],
            "datasets": [{"name": "Training", "uri": "train.csv", "shuffle": True, "enable_cache": False,
                          "image_normalization": True, "num_data": 0}],
            "config": {"max_epoch": 5, "save_best": True, "batch_size": 32, "type_config": "half",
                       "monitor_interval": 1},
            "optimizers": [{"name": "Optimizer", "network": "Main", "dataset": "Training", "solver": "Adam",
                            "solver_parameters": {"Alpha": "0.001", "Beta1": "0.9"}, "update_interval": 1,
                            "weight_decay": 0.0001, "lr_scheduler": {"type": "Step", "multiplier": 0.1,
                                                                     "update_interval": 1,
                                                                     "update_interval_unit": "epoch", "power": 1,
                                                                     "steps": [3, 4]},
                            "warmup": {"type": "None", "length": 0, "unit": "epoch"},
                            "range_from": -1, "range_to": -1, "range_unit": "epoch"}],
            "monitors": [{"name": "train_error", "network": "MainValidation", "dataset": "Training"}],
            "executors": [{"name": "Executor", "network": "MainRuntime", "dataset": "Training", "num_evaluations": 1,
                           "repeat_evaluation_type": "mean", "need_back_propagation": False}]}


def test_project_from_scratch_writes_nnc_structure():
    project = _from_scratch()
    text = write_sdcproj(project)
    assert _sections(text) == ["Engine", "Global", "Main_Network_Global", "Main_Layer_0", "Main_Layer_1",
                               "Main_Layer_2", "Main_Link_0", "Dataset", "Dataset_0", "Description", "Config",
                               "Optimizer_0", "Monitor_0", "Executor_0", "Script", "StructureSearch"]
    ini = configparser.RawConfigParser(strict=True, interpolation=None)
    ini.optionxform = str
    ini.read_string(text)
    assert dict(ini["Main_Layer_1"]) == {"ID": "1", "Type": "Affine", "Position_0": "24", "Position_1": "72",
                                         "Position_2": "240", "Position_3": "48", "Property_0_Name": "Name",
                                         "Property_0_Value": "Affine", "Property_1_Name": "OutShape",
                                         "Property_1_Value": "10", "NumProperty": "2"}
    assert ini["Main_Layer_2"]["Type"] == "Comment" and ini["Main_Layer_2"]["Property_1_Value"] == "hello"
    assert ini["Config"]["TypeConfig"] == "Half" and ini["Config"]["NumOptimizer"] == "1"
    assert ini["Optimizer_0"]["LearningRateSteps"] == "3,4" and ini["Optimizer_0"]["WeightDecay"] == "0.0001"
    assert ini["Optimizer_0"]["LearningRateUpdateIntervalUnit"] == "0" and ini["Optimizer_0"]["RangeUnit"] == "0"
    assert ini["Description"]["Text"] == "two\\nlines"
    assert ini["Engine"]["SDeepEngineType"] == "NNabla"
    back = read_sdcproj(text, name="scratch")
    back.pop("sdcproj_extra")
    assert back == project
    assert write_sdcproj(read_sdcproj(text)) == text
    no_final_newline = text.rstrip("\n")
    assert write_sdcproj(read_sdcproj(no_final_newline)) == no_final_newline


def test_random_edits_read_back_as_written():
    """Random documents from scratch: write -> read gives the document back, and write is stable."""
    rng = random.Random(0)
    for _ in range(20):
        project = _from_scratch()
        main = project["networks"][0]
        for i in range(rng.randint(0, 6)):
            main["layers"].append({"id": 10 + i, "type": rng.choice(["ReLU", "Tanh", "Affine"]), "name": f"L{i}",
                                   "x": rng.randint(0, 50) * 24, "y": rng.randint(0, 50) * 24, "width": 240,
                                   "height": 48, "properties": {f"P{j}": str(rng.random()) for j in range(3)}})
        rng.shuffle(main["layers"])
        project["config"]["batch_size"] = rng.randint(1, 512)
        project["optimizers"][0]["weight_decay"] = rng.choice([0, 1e-5, 0.25])
        text = write_sdcproj(project)
        back = read_sdcproj(text, name="scratch")
        back.pop("sdcproj_extra")
        assert back == project
        assert write_sdcproj(read_sdcproj(text)) == text


@pytest.mark.parametrize("text, expected", [
    ("", "no sections"),
    ("key=value\n", "line 1: expected a [Section] line"),
    ("[Engine]\nSDeepEngineType=NNabla\nnot a pair\n", "line 3: expected a [Section] line or a key=value line"),
    ("[Engine]\n[Engine]\n", "line 2: section [Engine] appears twice"),
    ("[Network_Global]\nNumLayer=x\nNumLink=0\n", "line 2: [Network_Global] NumLayer: expected an integer, got 'x'"),
    ("[Network_Global]\nNumLayer=1\nNumLink=0\n", "section [Layer_0] is missing"),
    ("[Network_Global]\nNumLayer=1\nNumLink=0\n[Layer_0]\nID=0\nType=ReLU\nNumProperty=0\n",
     "line 4: [Layer_0]: the layer has no Name property"),
    ("[Network_Global]\nNumLayer=1\nNumLink=0\n[Layer_0]\nID=0\nID=1\n", "line 6: [Layer_0] ID: appears twice"),
    ("[Network_Global]\nNumLayer=0\nNumLink=0\n[Config]\nMaxEpoch=1\nBatchSize=1\nTypeConfig=Double\n",
     "line 7: [Config] TypeConfig: expected Float or Half, got 'Double'"),
    ("[Network_Global]\nNumLayer=2\nNumLink=0\n[Layer_0]\nID=3\nType=ReLU\nProperty_0_Name=Name\n"
     "Property_0_Value=a\nNumProperty=1\n[Layer_1]\nID=3\nType=ReLU\nProperty_0_Name=Name\nProperty_0_Value=b\n"
     "NumProperty=1\n", "layer ID(s) [3] are used by more than one layer"),
])
def test_malformed_files_are_refused_with_line_and_key(text, expected):
    with pytest.raises(SdcprojError) as info:
        read_sdcproj(text, source="bad.sdcproj")
    assert expected in str(info.value) and str(info.value).startswith("bad.sdcproj")


def test_unwritable_documents_are_refused():
    project = _from_scratch()
    project["networks"][0]["layers"][0]["properties"]["Size"] = "1\n28"
    with pytest.raises(SdcprojError, match=r"\[Main_Layer_0\].*line break"):
        write_sdcproj(project)
    project = _from_scratch()
    project["config"]["batch_size"] = "many"
    with pytest.raises(SdcprojError, match=r"\[Config\]: batch_size: expected a number"):
        write_sdcproj(project)
    project = copy.deepcopy(_from_scratch())
    del project["optimizers"][0]["solver"]
    with pytest.raises(SdcprojError, match=r"\[Optimizer_0\]: missing 'solver'"):
        write_sdcproj(project)
    with pytest.raises(SdcprojError, match="no networks"):
        write_sdcproj({"networks": []})
