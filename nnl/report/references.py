"""One reference line per layer type: the paper that introduced the layer, or what it is when no paper did."""

from __future__ import annotations

__all__ = ["layer_reference"]

_CONVOLUTION = ("Y. LeCun, B. Boser, J. S. Denker et al., \"Backpropagation Applied to Handwritten Zip Code "
                "Recognition\", Neural Computation 1(4), 1989.")
_BATCH_NORM = ("S. Ioffe, C. Szegedy, \"Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
               "Covariate Shift\", ICML 2015.")
_SOFTMAX = ("J. S. Bridle, \"Probabilistic Interpretation of Feedforward Classification Network Outputs, with "
            "Relationships to Statistical Pattern Recognition\", Neurocomputing (NATO ASI Series F68), 1990.")
_BINARY_NET = ("I. Hubara, M. Courbariaux, D. Soudry, R. El-Yaniv, Y. Bengio, \"Binarized Neural Networks\", "
               "NeurIPS 2016.")
_BINARY_CONNECT = ("M. Courbariaux, Y. Bengio, J.-P. David, \"BinaryConnect: Training Deep Neural Networks with "
                   "binary weights during propagations\", NeurIPS 2015.")
_XNOR = ("M. Rastegari, V. Ordonez, J. Redmon, A. Farhadi, \"XNOR-Net: ImageNet Classification Using Binary "
         "Convolutional Neural Networks\", ECCV 2016.")
_DEPTHWISE = ("A. G. Howard, M. Zhu, B. Chen et al., \"MobileNets: Efficient Convolutional Neural Networks for Mobile "
              "Vision Applications\", arXiv:1704.04861, 2017.")
_LENET = ("Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, \"Gradient-Based Learning Applied to Document Recognition\", "
          "Proceedings of the IEEE 86(11), 1998 (subsampling layers).")
_DECONVOLUTION = ("M. D. Zeiler, D. Krishnan, G. W. Taylor, R. Fergus, \"Deconvolutional Networks\", CVPR 2010.")
_HUBER = "P. J. Huber, \"Robust Estimation of a Location Parameter\", Annals of Mathematical Statistics 35(1), 1964."

_PAPERS: dict[str, str] = {
    "Affine": ("F. Rosenblatt, \"The Perceptron: A Probabilistic Model for Information Storage and Organization in "
               "the Brain\", Psychological Review 65(6), 1958 (fully connected layer)."),
    "Convolution": _CONVOLUTION,
    "Deconvolution": _DECONVOLUTION,
    "DepthwiseConvolution": _DEPTHWISE,
    "DepthwiseDeconvolution": _DEPTHWISE,
    "DeformableConvolution": ("J. Dai, H. Qi, Y. Xiong et al., \"Deformable Convolutional Networks\", ICCV 2017."),
    "BinaryConnectAffine": _BINARY_CONNECT,
    "BinaryConnectConvolution": _BINARY_CONNECT,
    "BinaryWeightAffine": _XNOR,
    "BinaryWeightConvolution": _XNOR,
    "BinaryTanh": _BINARY_NET,
    "BinarySigmoid": _BINARY_NET,
    "MaxPooling": ("M. Riesenhuber, T. Poggio, \"Hierarchical Models of Object Recognition in Cortex\", Nature "
                   "Neuroscience 2(11), 1999 (max pooling)."),
    "AveragePooling": _LENET,
    "SumPooling": _LENET,
    "GlobalAveragePooling": ("M. Lin, Q. Chen, S. Yan, \"Network In Network\", ICLR 2014 (global average "
                             "pooling)."),
    "Unpooling": ("M. D. Zeiler, R. Fergus, \"Visualizing and Understanding Convolutional Networks\", ECCV 2014."),
    "ReLU": ("V. Nair, G. E. Hinton, \"Rectified Linear Units Improve Restricted Boltzmann Machines\", ICML 2010."),
    "ReLU6": ("A. Krizhevsky, \"Convolutional Deep Belief Networks on CIFAR-10\", technical report, University of "
              "Toronto, 2010."),
    "LeakyReLU": ("A. L. Maas, A. Y. Hannun, A. Y. Ng, \"Rectifier Nonlinearities Improve Neural Network Acoustic "
                  "Models\", ICML Workshop on Deep Learning for Audio, Speech and Language Processing, 2013."),
    "PReLU": ("K. He, X. Zhang, S. Ren, J. Sun, \"Delving Deep into Rectifiers: Surpassing Human-Level Performance on "
              "ImageNet Classification\", ICCV 2015."),
    "CReLU": ("W. Shang, K. Sohn, D. Almeida, H. Lee, \"Understanding and Improving Convolutional Neural Networks via "
              "Concatenated Rectified Linear Units\", ICML 2016."),
    "ELU": ("D.-A. Clevert, T. Unterthiner, S. Hochreiter, \"Fast and Accurate Deep Network Learning by Exponential "
            "Linear Units (ELUs)\", ICLR 2016."),
    "CELU": "J. T. Barron, \"Continuously Differentiable Exponential Linear Units\", arXiv:1704.07483, 2017.",
    "SELU": ("G. Klambauer, T. Unterthiner, A. Mayr, S. Hochreiter, \"Self-Normalizing Neural Networks\", "
             "NeurIPS 2017."),
    "GELU": "D. Hendrycks, K. Gimpel, \"Gaussian Error Linear Units (GELUs)\", arXiv:1606.08415, 2016.",
    "Swish": "P. Ramachandran, B. Zoph, Q. V. Le, \"Searching for Activation Functions\", arXiv:1710.05941, 2017.",
    "Mish": "D. Misra, \"Mish: A Self Regularized Non-Monotonic Activation Function\", arXiv:1908.08681, 2019.",
    "SoftPlus": ("C. Dugas, Y. Bengio, F. Belisle, C. Nadeau, R. Garcia, \"Incorporating Second-Order Functional "
                 "Knowledge for Better Option Pricing\", NIPS 2000."),
    "Softmax": _SOFTMAX,
    "SoftmaxCrossEntropy": _SOFTMAX,
    "CategoricalCrossEntropy": _SOFTMAX,
    "HuberLoss": _HUBER,
    "BatchNormalization": _BATCH_NORM,
    "FusedBatchNormalization": _BATCH_NORM,
    "SyncBatchNormalization": ("C. Peng, T. Xiao, Z. Li et al., \"MegDet: A Large Mini-Batch Object Detector\", "
                               "CVPR 2018."),
    "LayerNormalization": "J. L. Ba, J. R. Kiros, G. E. Hinton, \"Layer Normalization\", arXiv:1607.06450, 2016.",
    "InstanceNormalization": ("D. Ulyanov, A. Vedaldi, V. Lempitsky, \"Instance Normalization: The Missing "
                              "Ingredient for Fast Stylization\", arXiv:1607.08022, 2016."),
    "GroupNormalization": "Y. Wu, K. He, \"Group Normalization\", ECCV 2018.",
    "WeightNormalization": ("T. Salimans, D. P. Kingma, \"Weight Normalization: A Simple Reparameterization to "
                            "Accelerate Training of Deep Neural Networks\", NeurIPS 2016."),
    "SpectralNorm": ("T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida, \"Spectral Normalization for Generative "
                     "Adversarial Networks\", ICLR 2018."),
    "Dropout": ("N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov, \"Dropout: A Simple Way to "
                "Prevent Neural Networks from Overfitting\", JMLR 15, 2014."),
    "RandomErase": ("Z. Zhong, L. Zheng, G. Kang, S. Li, Y. Yang, \"Random Erasing Data Augmentation\", "
                    "arXiv:1708.04896, 2017."),
    "Embed": ("Y. Bengio, R. Ducharme, P. Vincent, C. Jauvin, \"A Neural Probabilistic Language Model\", JMLR 3, "
              "2003 (learned word embeddings)."),
    "RNN": "J. L. Elman, \"Finding Structure in Time\", Cognitive Science 14(2), 1990.",
    "LSTM": "S. Hochreiter, J. Schmidhuber, \"Long Short-Term Memory\", Neural Computation 9(8), 1997.",
    "GRU": ("K. Cho, B. van Merrienboer, C. Gulcehre et al., \"Learning Phrase Representations using RNN "
            "Encoder-Decoder for Statistical Machine Translation\", EMNLP 2014."),
    "MultiHeadAttention": ("A. Vaswani, N. Shazeer, N. Parmar et al., \"Attention Is All You Need\", NeurIPS "
                           "2017."),
    "FixedPointQuantize": ("S. Gupta, A. Agrawal, K. Gopalakrishnan, P. Narayanan, \"Deep Learning with Limited "
                           "Numerical Precision\", ICML 2015."),
    "Pow2Quantize": ("D. Miyashita, E. H. Lee, B. Murmann, \"Convolutional Neural Networks using Logarithmic Data "
                     "Representation\", arXiv:1603.01025, 2016."),
}

_DESCRIPTIONS: dict[str, str] = {
    "Sigmoid": "logistic activation 1 / (1 + exp(-x)); classical, no single introducing paper.",
    "Tanh": "hyperbolic-tangent activation; classical, no single introducing paper.",
    "SigmoidCrossEntropy": "binary cross-entropy of a logistic output; classical loss, no single introducing paper.",
    "SquaredError": "squared difference (least squares); classical loss, no single introducing paper.",
    "AbsoluteError": "absolute difference (least absolute deviations); classical loss, no single introducing paper.",
    "BinaryCrossEntropy": "binary cross-entropy; classical loss, no single introducing paper.",
}


def layer_reference(type_name: str) -> str:
    """The reference line of a layer (function) type; a generic line for types without a paper."""
    if type_name in _PAPERS:
        return _PAPERS[type_name]
    if type_name in _DESCRIPTIONS:
        return _DESCRIPTIONS[type_name]
    return "basic tensor operation of nnabla's function catalogue; no introducing paper."
