"""Extensions: modules that provide contexts (``cpu`` here; ``torch``/``cuda``/``cudnn`` with the torch extra).

``nnl.ext_utils.get_extension_context(name, ...)`` imports ``nnl.ext.<name>`` or a third-party module registered
under the ``nnl.extensions`` entry-point group, and calls its ``context(**kw)``.
"""
