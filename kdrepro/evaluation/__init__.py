"""Evaluation beyond a trained net's own accuracy (that one is :func:`kdrepro.engine.evaluate`):
frozen features judged by a weighted k-NN vote and a linear probe, as self-supervised papers do
(:mod:`~kdrepro.evaluation.frozen_features`), and error counts per class and after a bias shift,
as Hinton's MNIST experiments report them (:mod:`~kdrepro.evaluation.error_counts`).
"""
