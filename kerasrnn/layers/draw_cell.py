"""One step of DRAW (Gregor et al. 2015, equations 3-8) as a Keras recurrent cell.

Training (`generate=False`), step t:

    x^_t = x - sigmoid(c_{t-1})                         the error image
    r_t = read(x, x^_t, h^dec_{t-1})                     `DRAWRead`
    h^enc_t = LSTM_enc(h^enc_{t-1}, [r_t, h^dec_{t-1}])
    mu_t = W_mu h^enc_t,  log sigma_t = W_sigma h^enc_t
    z_t = mu_t + sigma_t eps_t                           the reparameterisation trick
    h^dec_t = LSTM_dec(h^dec_{t-1}, z_t)
    c_t = c_{t-1} + write(h^dec_t)                       `DRAWWrite`
    KL_t = 1/2 sum_d (mu_{t,d}^2 + sigma_{t,d}^2 - log sigma_{t,d}^2 - 1)
    log p(z_t) - log q(z_t | x) = sum_d (eps_{t,d}^2 / 2 + log sigma_{t,d} - z_{t,d}^2 / 2)

so that sum_t KL_t is the paper's L^z, its constant -T |z| / 2 included (one -1/2 per latent
dimension and step); the log density ratio of the z drawn (whose expectation is -KL_t) is what an
importance-weighted estimate of log p(x) needs (`kinds/draw/scores.py`). Generation (`generate=True`) runs the decoder only, on z_t = eps_t. The
noise eps is an input: the data pipeline draws it from (seed, epoch, the example's index), so a
run spread over replicas draws the same z as one process. The canvas c and the LSTM states start
at zero (the paper learns their start; zero is what the known implementations use).

Both modes build the same weights in the same order, so a generation cell takes a training
cell's weights (`set_weights`).
"""

import keras
from keras import ops

from kerasrnn.layers.draw_attention import DRAWRead, DRAWWrite


@keras.saving.register_keras_serializable(package="kerasrnn")
class DRAWCell(keras.layers.Layer):
    """DRAW's step for `keras.layers.RNN`.

    Args:
        image_shape: `(H, W, C)`.
        encoder_units, decoder_units: The two LSTMs' sizes (the paper's MNIST model: 256 each).
        latent_dim: |z| (the paper's: 100).
        read_size, write_size: N of the read and write windows (the paper's: 2 and 5).
        attention: False: the paper's baseline without attention.
        generate: Run the decoder only, on z = eps.
        **kwargs: Base `Layer` arguments.

    Call arguments:
        inputs: Training: `(batch, H W C + latent_dim)`, the flattened image then eps_t.
            Generation: `(batch, latent_dim)`, eps_t.
        states: `[canvas (batch, H W C), h_enc, c_enc, h_dec, c_dec]`.

    Returns:
        `(output, states)`; `output` is, in training, `(batch, 6)`: KL_t, the write window
        (g_x, g_y, delta, sigma), then log p(z_t) - log q(z_t | x); in generation `(batch, 4 + H W C)`: the write window then the
        canvas c_t (logits).
    """

    def __init__(self, image_shape, encoder_units=256, decoder_units=256, latent_dim=100,
                 read_size=2, write_size=5, attention=True, generate=False, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(n) for n in image_shape)
        self.encoder_units, self.decoder_units = encoder_units, decoder_units
        self.latent_dim, self.read_size, self.write_size = latent_dim, read_size, write_size
        self.attention, self.generate = bool(attention), bool(generate)
        self.pixels = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
        self.reader = DRAWRead(read_size, attention=self.attention, name="read")
        self.encoder = keras.layers.LSTMCell(encoder_units, name="encoder")
        self.mean = keras.layers.Dense(latent_dim, name="mean")
        self.log_sigma = keras.layers.Dense(latent_dim, name="log_sigma")
        self.decoder = keras.layers.LSTMCell(decoder_units, name="decoder")
        self.writer = DRAWWrite(self.image_shape, write_size, attention=self.attention, name="write")
        self.state_size = [self.pixels, encoder_units, encoder_units, decoder_units, decoder_units]
        self.output_size = 4 + self.pixels if self.generate else 6

    def build(self, inputs_shape):
        batch = inputs_shape[0]
        image = (batch, *self.image_shape)
        self.reader.build(image, image, (batch, self.decoder_units))
        read_width = self.reader.compute_output_shape(image)[-1]
        self.encoder.build((batch, read_width + self.decoder_units))
        self.mean.build((batch, self.encoder_units))
        self.log_sigma.build((batch, self.encoder_units))
        self.decoder.build((batch, self.latent_dim))
        self.writer.build((batch, self.decoder_units))

    def call(self, inputs, states, training=False):
        canvas, h_enc, c_enc, h_dec, c_dec = states
        batch = ops.shape(canvas)[0]
        if self.generate:
            z = inputs
        else:
            image = ops.reshape(inputs[:, :self.pixels], (batch, *self.image_shape))
            eps = inputs[:, self.pixels:]
            error = image - ops.sigmoid(ops.reshape(canvas, (batch, *self.image_shape)))
            glimpse = self.reader(image, error, h_dec)
            h_enc, (h_enc, c_enc) = self.encoder(ops.concatenate([glimpse, h_dec], axis=-1),
                                                 [h_enc, c_enc], training=training)
            mean, log_sigma = self.mean(h_enc), self.log_sigma(h_enc)
            z = mean + ops.exp(log_sigma) * eps
            kl = 0.5 * ops.sum(ops.square(mean) + ops.exp(2 * log_sigma) - 2 * log_sigma - 1,
                               axis=-1, keepdims=True)
            log_ratio = ops.sum(0.5 * ops.square(eps) + log_sigma - 0.5 * ops.square(z), axis=-1,
                                keepdims=True)
        h_dec, (h_dec, c_dec) = self.decoder(z, [h_dec, c_dec], training=training)
        delta, window = self.writer(h_dec)
        canvas = canvas + ops.reshape(delta, (batch, self.pixels))
        output = (ops.concatenate([window, canvas], axis=-1) if self.generate
                  else ops.concatenate([kl, window, log_ratio], axis=-1))
        return output, [canvas, h_enc, c_enc, h_dec, c_dec]

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape),
                "encoder_units": self.encoder_units, "decoder_units": self.decoder_units,
                "latent_dim": self.latent_dim, "read_size": self.read_size,
                "write_size": self.write_size, "attention": self.attention,
                "generate": self.generate}
