"""TAS: an application as Python source, one statement per object.

``_grammar`` holds what the writer and the reader agree on; ``_writer`` writes; ``_reader``
reads (without running a generated file: ``_program`` recognises its statements, ``_values``
decodes their values and ``_builder`` rebuilds the objects; a file with other code runs only
when trusted).
"""
