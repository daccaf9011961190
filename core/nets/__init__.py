"""GaFET networks (paper §3.2-3.5); one concept per module, nothing imported here.

* ``config``: frozen :class:`GafetConfig`, presets ``gafet-256``, ``gafet-512``, ``small-128``,
  ``tiny-64``, JSON form.
* ``gafet``: :class:`GaFET` (the generator, with cacheable stages) and ``build_networks`` (G + Ds).
* Parts: ``appearance_encoder`` (E_a), ``geometry_encoder`` (E_e), ``reference_encoder`` (E_d),
  ``mfat`` + ``transformer`` (MFAT), ``feature_deformation`` (FD), ``sgmm`` + ``modulated_conv``
  (SGMM), ``generator`` (the decoder), ``discriminator`` (global and component D),
  ``component_crops`` (eye/mouth patches from the face mesh), ``layers`` (equalised-lr convs).
* ``checkpoint``: safetensors checkpoints with the config in the metadata; ``stats``: parameter
  and FLOP counts.
"""
