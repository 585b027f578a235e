"""How many judge-scored rows (n) and oracle labels (m) a study needs: the CJE paper's square-root
allocation (Appendix F; cje-eval 0.9's plan_evaluation and plan_for_mde), on a variance model
Var(n, m) = s2_eval / n + s2_cal / m and costs c_S per scored row, c_Y per label.

For a budget B the variance is least at n = B sqrt(s2_eval / c_S) / D, m = B sqrt(s2_cal / c_Y) / D,
D = sqrt(c_S s2_eval) + sqrt(c_Y s2_cal), with m <= n and m >= m_min. A target SE s needs the budget
D^2 / s^2 at that optimum (when the m_min floor binds: m = m_min and n from the rest of the
variance). A minimum detectable effect between two policies at level alpha and power 1 - beta is
(z_{1-alpha/2} + z_{1-beta}) sqrt(2) SE, so a target MDE is a target SE.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass
class Plan:
    n: int          # judge-scored rows (per policy)
    m: int          # oracle labels
    cost: float
    se: float       # a policy's value's SE at (n, m)
    mde: float      # the smallest difference between two policies detected at (alpha, power)


def _mde_factor(alpha: float, power: float) -> float:
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * np.sqrt(2))


def for_budget(budget: float, s2_eval: float, s2_cal: float, c_s: float, c_y: float, m_min: int = 30,
               alpha: float = 0.05, power: float = 0.8) -> Plan:
    if s2_eval <= 0 and s2_cal <= 0:
        raise ValueError("the variance model is zero in both parts: nothing to plan")
    if budget < m_min * (c_s + c_y):
        raise ValueError(f"a budget of {budget:,.2f} cannot buy {m_min} labels and as many scored rows "
                         f"({m_min * (c_s + c_y):,.2f})")
    d = np.sqrt(c_s * s2_eval) + np.sqrt(c_y * s2_cal)
    if s2_cal <= 0:  # the label floor, then every row the rest buys
        n, m = (budget - c_y * m_min) / c_s, float(m_min)
    elif s2_eval <= 0:
        n = m = budget / (c_s + c_y)
    else:
        n, m = budget * np.sqrt(s2_eval / c_s) / d, budget * np.sqrt(s2_cal / c_y) / d
    if m > n:  # a label is on a scored row
        n = m = budget / (c_s + c_y)
    n = int(max(n, 1))
    m = int(max(min(m, n), 1))
    if m < m_min:
        m = m_min
        n = max(int((budget - c_y * m) / c_s), m)
    n = max(min(n, int((budget - c_y * m) / c_s)), m)
    se = float(np.sqrt(s2_eval / n + s2_cal / m))
    return Plan(n, m, c_s * n + c_y * m, se, _mde_factor(alpha, power) * se)


def for_se(target_se: float, s2_eval: float, s2_cal: float, c_s: float, c_y: float, m_min: int = 30,
           alpha: float = 0.05, power: float = 0.8) -> Plan:
    """The cheapest plan whose SE is at most `target_se` (within 2%, as integer rounding allows)."""
    var = target_se ** 2
    d = np.sqrt(c_s * s2_eval) + np.sqrt(c_y * s2_cal)
    m_free = np.sqrt(s2_cal / c_y) * d / var if s2_cal > 0 else 0.0
    if m_free >= m_min:
        budget = d ** 2 / var
    else:  # the label floor binds
        rest = var - s2_cal / m_min
        if rest <= 0:
            raise ValueError(f"SE {target_se:g} is out of reach with {m_min} labels' calibration variance alone")
        budget = c_s * max(int(np.ceil(s2_eval / rest)) if s2_eval > 0 else m_min, m_min) + c_y * m_min
    budget = max(budget, m_min * (c_s + c_y))
    plan = for_budget(budget, s2_eval, s2_cal, c_s, c_y, m_min, alpha, power)
    for _ in range(50):  # rounding down n and m can leave the SE a little above target
        if plan.se <= target_se * 1.02:
            break
        budget = budget * max((plan.se / target_se) ** 2, 1.0) + (c_s + c_y)
        plan = for_budget(budget, s2_eval, s2_cal, c_s, c_y, m_min, alpha, power)
    return plan


def for_mde(target_mde: float, s2_eval: float, s2_cal: float, c_s: float, c_y: float, m_min: int = 30,
            alpha: float = 0.05, power: float = 0.8) -> Plan:
    return for_se(target_mde / _mde_factor(alpha, power), s2_eval, s2_cal, c_s, c_y, m_min, alpha, power)
