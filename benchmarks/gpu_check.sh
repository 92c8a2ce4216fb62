#!/usr/bin/env bash
# The device check, on a machine with an NVIDIA GPU: installs nothing; runs the GPU tests (the generic function
# tester on cudnn, the cuda-marked tests) and the precision benchmark (nnl cudnn vs PyTorch eager and autocast, in
# float, half and bfloat16, ResNet-50 at batch 64 on ImageNet shapes included, with the memory each step allocates),
# printing one table. About 5 minutes.
#   bash benchmarks/gpu_check.sh [seconds per measurement, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; assert torch.cuda.is_available(), 'CUDA is not available to torch'; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
NNL_TORCH_TEST_EXTENSION=cudnn timeout 240 python -m pytest -q -x -n 4 -p no:cacheprovider tests/test_torch_backend.py \
    -k "not low_precision or Convolution or Affine"
timeout 120 python -m pytest -q -p no:cacheprovider -m cuda tests/test_torch_extension.py tests/test_graph_capture.py
timeout 300 python benchmarks/precision.py --device cuda --only lenet,resnet20,lstm,resnet50 --min-time "$SECONDS_PER" --rounds 3 --graph
