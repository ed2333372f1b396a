"""txai: which genes a neural network uses to tell tissues and cancers apart.

Implements Zhao, Shao & Asmann, "Assessment and Optimization of Explainable Machine Learning
Models Applied to Transcriptomic Data", Genomics Proteomics Bioinformatics (2022).
"""

__version__ = "0.1.0"
