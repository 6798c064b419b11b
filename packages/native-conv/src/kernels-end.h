/* Undefines kernels.h's vector macros after one instruction set's instantiation (conv2d.c). */
#undef TARGET
#undef FN
#undef V
#undef M
#undef NL
#undef MAX_VECS
#undef ACCUMULATORS
#undef VZERO
#undef VSET1
#undef VADD
#undef VMAX
#undef VMIN
#undef VFMA
#undef VLOADM
#undef VSTOREM
#undef LANES
#undef SUM4
