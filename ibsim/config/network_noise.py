"""The network's noise as the sample-propagation estimator's parameter.

The ``sp`` estimator models each hidden layer as ``T = S + Z`` with ``Z ~
N(0, beta^2 I)``: its ``noise_std`` must be the noise the network was trained
with (the network key ``noise_std``). It sees only the recorded activations,
so the config (and ``ibsim estimate``, from the file's config) hands the
network's value on: an ``sp`` spec without ``noise_std`` takes the network's,
and a spec that names another value than a noisy network's is refused. On a
noise-free network ``sp`` needs an explicit ``noise_std`` (a what-if: the
information of the layer had it carried that noise).
"""
from __future__ import annotations

from ibsim.errors import ConfigError
from ibsim.estimators import Estimator, ParsedEstimator, parse_estimator
from ibsim.estimators.sp import SamplePropagation
from ibsim.spec import format_spec

#: The parameter of :class:`SamplePropagation` that is the network's noise.
NOISE_PARAMETER = "noise_std"


def with_network_noise(spec: str | ParsedEstimator | Estimator, noise_std: float) -> ParsedEstimator | Estimator:
    """``spec`` with the network's noise filled in where it is an ``sp`` estimator.

    Args:
        spec: An estimator spec (parsed here when it is text) or instance; anything but ``sp``
            is returned as it is (parsed).
        noise_std: The network's ``noise_std`` (0: a noise-free network).

    Raises:
        ConfigError: A spec that names no estimator; ``sp`` without ``noise_std`` on a
            noise-free network, or with another ``noise_std`` than the noisy network's.
    """
    parsed = parse_estimator(spec) if isinstance(spec, str) else spec
    if isinstance(parsed, Estimator):
        text, cls, params = str(parsed), type(parsed), {NOISE_PARAMETER: getattr(parsed, NOISE_PARAMETER, None)}
    else:
        text, cls, params = parsed
    if not issubclass(cls, SamplePropagation):
        return parsed
    if NOISE_PARAMETER not in params:
        if not noise_std:
            raise ConfigError(
                f"estimator '{text}' needs the network's noise: set the network key noise_std (beta > 0, a noisy "
                f"network) or give the estimator its own, e.g. '{format_spec(cls.name, {NOISE_PARAMETER: 0.1})}'"
            )
        return parsed._replace(params={**params, NOISE_PARAMETER: noise_std})
    given = params[NOISE_PARAMETER]
    if noise_std and given != noise_std:
        raise ConfigError(
            f"estimator '{text}' sets noise_std = {given}, but the network was trained with noise_std = "
            f"{noise_std}: sample propagation must use the network's noise (leave noise_std out of the spec)"
        )
    return parsed
