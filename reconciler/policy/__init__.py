"""Rego policies beside the Python checks: one input per snapshot, engines behind one interface.

``inputs`` builds the input document (pure), ``engines`` evaluates Rego through the embedded
regorus engine or a real OPA server (the I/O edge), ``decisions`` turns what the policies
return into findings. Evaluation fails closed: any error is a :class:`PolicyError`.
"""
