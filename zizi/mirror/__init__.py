"""`zizi mirror`: a photographed face, found in a face model's latent space, drawn back by
the base (normative) network and by the shifted (fine-tuned) one (after Narcissus).

One concept per module: `photo` (decode and frame the photo, in memory), `losses` (the
perceptual distances), `project` (optimising w/w+ and the noise maps), `reflect` (the
command: project, render side by side, optional clip), and for the live mirror `encoder`
(the image -> W+ net and its file), `encoder_train` (its self-supervised training and run
folder), `live` (one camera frame -> both reflections, in memory), `page` (the web page) and
`serve` (the aiohttp server: fair scheduling, /health). The photo, its crop and the latent
are never written unless the caller asks (`keep_latent`).
"""
