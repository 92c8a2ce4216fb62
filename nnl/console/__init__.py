"""nnl console: Neural Network Console re-created as a local web app (projects, networks, training jobs, evaluation).

Modules: ``project`` (the project document and ``.nnlproj`` files), ``sdcproj`` (NNC's ``.sdcproj`` import/export),
``workspace`` (the folder holding projects, jobs and datasets), ``jobs`` (training/evaluation processes), ``server``
(the FastAPI app); the network model (palette, shapes, costs, compilation) lives in ``layers``, ``catalogue``,
``analysis``, ``compile``, ``python_export`` and ``importers``.
"""
