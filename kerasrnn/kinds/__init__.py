"""Model kinds: one package per kind, named by its run directories' format (`kerasrnn.<kind>`);
`registry` names them all."""
