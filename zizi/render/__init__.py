"""Drawing with generators: `zizi generate`'s images, `zizi render`'s exhibition video, and
what they draw with (`zizi blend`'s layer swaps, `zizi directions`).

One concept per module. What a render shows: `scenes` (`shift` across training, `walk`
through latent space), built from `weights` (one generator blended from checkpoint to
checkpoint), `walks` (keyframes and the latent of every frame between them), `directions`
(SeFa and the fine-tune's shift), `timeline` (durations, easing) and `audio` (a sound
track sets the pace). How frames are drawn and laid out: `batches` (latents to images,
shared with `generate`), `mixing` (style mixing), `blocks` and `blend` (the synthesis
network block by block, layer swapping), `layout` (faces on a screen of any shape),
`images` (uint8 pixels, grids). How they are written: `job` (segments, resume),
`encode` (MP4, ProRes, PNG sequences), `shards` (one render over many processes),
`provenance` (the record every output carries).
"""
