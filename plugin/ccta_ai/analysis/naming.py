"""Label: traced coronary tree → SCCT 2014 segments (1-18) and dominance.

Leipsic et al., "SCCT guidelines for the interpretation and reporting of coronary CT
angiography", J Cardiovasc Comput Tomogr 2014;8:342-358, table 2 (the segment table is
:data:`ccta_ai.phantom.labels.SCCT_SEGMENTS`). The rules are in ``docs/naming.md``; in
short:

* the left tree is the one whose ostium lies more to the left/posterior and whose
  course runs to the left; its first large bifurcation ends the LM;
* of the LM's branches the LCx runs least towards the apex (in the AV groove); of the
  others the LAD is the longest and thickest; a third large branch is the ramus;
* the heart's axes come from the tree: the long axis from the LAD's apical end, then
  from the plane of the AV-groove arteries; the roll from the LAD (anterior groove),
  then from the septum (the line from the LAD to the PDA);
* diagonals leave the LAD along the surface, septals dive inwards; obtuse marginals
  leave the LCx and acute marginals the RCA towards the apex;
* the PDA is the apex-bound branch (or terminal turn) of an AV-groove artery that runs
  in the posterior groove; the artery that gives it is dominant; a PDA from the RCA
  without an RCA posterolateral branch, with the LCx ending in a posterolateral branch,
  is co-dominance.

Nothing depends on how the tracer split the tree into vessels, on the slice order or
on the exact orientation of the heart (±20° or so); missing branches and truncated
vessels leave their segments unlabelled or shorter, never shift whole arteries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ccta_ai.analysis.findings import Vessel
from ccta_ai.analysis.naming_axes import HeartAxes, prior_axes
from ccta_ai.analysis.naming_tree import PointTree
from ccta_ai.errors import GeometryValueError
from ccta_ai.imaging.volume import Volume

OTHER_LUMEN = 19  # painted label of lumen on branches without an SCCT segment
#: A lumen voxel is painted when it lies within REACH_RADII × the radius at its nearest
#: centreline point + REACH_MARGIN_MM of that point (bifurcations and oval lumens
#: reach beyond one radius; the lumen of pieces left out of the tree lies farther).
REACH_RADII = 2.0
REACH_MARGIN_MM = 1.0
_NO_SEGMENT = -1  # named, but outside the 18-segment model (septal, acute marginal...)
_UNATTACHED = ("thickest-end",)
_LEFT_OSTIUM_SIDE = np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)  # LPS: left and posterior
_PATIENT_LEFT = np.array([1.0, 0.0, 0.0])


@dataclass(frozen=True)
class NamingOptions:
    """Thresholds of the naming rules (lengths along the centreline)."""

    min_branch_mm: float = 8.0  # shorter side branches are spurs of their parent
    major_branch_mm: float = 18.0  # each branch of the LM bifurcation is at least this long
    max_left_main_mm: float = 30.0
    trifurcation_mm: float = 6.0  # junctions this close to the LM bifurcation are part of it
    direction_mm: float = 10.0  # a branch's local direction
    # Lengths count up to this at a junction (with radius and course): a diagonal (up
    # to ~70 mm) does not tie with the LAD that goes on beyond it (60 mm made 2 of 40
    # phantom studies follow a diagonal thicker at its start; 120 mm broke 2 others).
    continuation_cap_mm: float = 90.0
    calibre_mm: float = 20.0  # a branch's calibre is measured over this much of its start
    course_mm: float = 25.0  # a branch's course
    apex_cos: float = 0.4  # courses at least this aligned with the long axis go to the apex
    septal_inward_cos: float = 0.35  # short LAD branches diving this much are septal
    max_septal_mm: float = 35.0
    # Shorter still, a branch diving this much is septal: the network sees only a
    # septal's first 10-15 mm (its intramyocardial course fades); every diagonal
    # traced in 40 phantom studies was at least 31 mm long, diving at most 0.32.
    short_septal_mm: float = 20.0
    short_septal_cos: float = 0.2
    deep_septal_cos: float = 0.6  # LAD branches diving this much are septal at any length
    # A PDA runs in the posterior groove: at most this far from it towards the acute
    # margin of the RV (an acute marginal lies about 75 degrees away) ...
    pda_window_rv_deg: float = 35.0
    # ... and towards the LV lateral wall (the obtuse marginals).
    pda_window_lv_deg: float = 55.0
    # With candidates from both sides, one nearer the groove by this much wins.
    pda_clear_deg: float = 25.0


@dataclass
class NamingResult:
    """Dominance, why, and how sure (0-1) the naming is."""

    dominance: str
    reasons: list[str] = field(default_factory=list)
    confidence: float = 0.0
    axes: HeartAxes | None = None


def label_tree(
    vessels: list[Vessel],
    *,
    ostia_lps_mm: np.ndarray | None = None,
    options: NamingOptions | None = None,
) -> NamingResult:
    """Name every vessel and give every centreline point its SCCT segment, in place.

    ``Vessel.name`` becomes the name of most of its points ("LAD", "D1", "septal",
    "other"...); ``centerline.segment`` holds 1-18 or ``None``.
    """
    options = options or NamingOptions()
    for vessel in vessels:
        vessel.name = ""
        vessel.centerline.segment = [None] * len(vessel.centerline.points_lps_mm)
    tree = PointTree.build(vessels)
    if len(tree.points_lps_mm) == 0:
        return NamingResult("", ["no centreline to name"])
    namer = _Namer(tree, vessels, options)
    result = namer.run(ostia_lps_mm)
    _write_back(tree, vessels, namer.segment, namer.name)
    return result


def _write_back(
    tree: PointTree, vessels: list[Vessel], segment: np.ndarray, name: list[str]
) -> None:
    for node in range(len(segment)):
        vessel = vessels[int(tree.vessel_index[node])]
        value = int(segment[node])
        vessel.centerline.segment[int(tree.point_index[node])] = value if value > 0 else None
    for index, vessel in enumerate(vessels):
        nodes = np.flatnonzero(tree.vessel_index == index)
        names = [name[n] or "other" for n in nodes]
        if not names:
            vessel.name = "other"
            continue
        counts: dict[str, int] = {}
        for label in names:
            counts[label] = counts.get(label, 0) + 1
        non_lm = {k: v for k, v in counts.items() if k != "LM"}
        pool = non_lm or counts
        vessel.name = max(pool, key=lambda k: (pool[k], k))


class _Namer:
    def __init__(self, tree: PointTree, vessels: list[Vessel], options: NamingOptions) -> None:
        self.tree = tree
        self.vessels = vessels
        self.options = options
        count = len(tree.points_lps_mm)
        self.segment = np.zeros(count, dtype=int)
        self.name = [""] * count
        self.reasons: list[str] = []
        self.doubts: list[float] = []
        self.axes = prior_axes(tree.points_lps_mm)
        self.lad_route: list[int] = []

    # --- the whole job --------------------------------------------------------------
    def run(self, ostia_lps_mm: np.ndarray | None) -> NamingResult:
        tree = self.tree
        anchored = [r for r in tree.roots if self._origin(r) not in _UNATTACHED]
        loose = [r for r in tree.roots if self._origin(r) in _UNATTACHED]
        if not anchored:  # nothing reached an ostium: take the largest pieces
            anchored = sorted(loose, key=lambda r: -tree.longest_mm[r])[:2]
            loose = [r for r in loose if r not in anchored]
            self.reasons.append("no tree starts at an ostium: the largest pieces were named")
            self.doubts.append(0.5)
        if not anchored:
            return NamingResult("", ["the vessels form no tree (no root)"])
        points = np.concatenate([tree.points_lps_mm[tree.subtree(r)] for r in anchored])
        self.axes = prior_axes(points)
        left, right = self._sides(anchored, ostia_lps_mm)
        lcx_route = self._name_left(left) if left is not None else []
        rca_route = tree.follow(right, self._choose_groove) if right is not None else []
        dominance = self._name_groove_arteries(rca_route, lcx_route)
        for root in anchored:
            if root not in (left, right):
                self._fill(tree.subtree(root), "other", _NO_SEGMENT)
        self._attach_loose(loose)
        self._inherit_spurs()
        confidence = float(np.prod(self.doubts)) if self.doubts else 1.0
        return NamingResult(dominance, self.reasons, round(confidence, 3), self.axes)

    def _origin(self, root: int) -> str:
        return self.vessels[int(self.tree.vessel_index[root])].origin

    # --- left or right --------------------------------------------------------------
    def _sides(
        self, anchored: list[int], ostia_lps_mm: np.ndarray | None
    ) -> tuple[int | None, int | None]:
        tree = self.tree
        big = sorted(
            (r for r in anchored if tree.longest_mm[r] >= self.options.major_branch_mm),
            key=lambda r: -tree.longest_mm[r],
        )[:2]
        if not big:
            self.reasons.append("no coronary tree long enough to name")
            return None, None

        def course(root: int) -> float:
            centroid = tree.points_lps_mm[tree.subtree(root)].mean(axis=0)
            return float((centroid - tree.points_lps_mm[root]) @ _PATIENT_LEFT)

        ostia = None if ostia_lps_mm is None else np.asarray(ostia_lps_mm, float).reshape(-1, 3)
        if len(big) == 1:
            root = big[0]
            is_left = self._left_main_fork(tree.follow(root, self._choose_main)) is not None
            if ostia is not None and len(ostia) >= 2:
                nearest = int(np.argmin(np.linalg.norm(ostia - tree.points_lps_mm[root], axis=1)))
                is_left = nearest == int(np.argmax(ostia @ _LEFT_OSTIUM_SIDE))
            self.reasons.append(
                f"one coronary tree only, taken as the {'left' if is_left else 'right'} one"
            )
            self.doubts.append(0.7)
            return (root, None) if is_left else (None, root)
        a, b = big
        pa, pb = tree.points_lps_mm[a], tree.points_lps_mm[b]
        score = float((pa - pb) @ _LEFT_OSTIUM_SIDE) + course(a) - course(b)
        left, right = (a, b) if score >= 0 else (b, a)
        self.reasons.append(
            "left tree: ostium more to the left/posterior and course to the left "
            f"(score {abs(score):.0f} mm)"
        )
        self.doubts.append(float(np.clip(0.5 + abs(score) / 40.0, 0.5, 1.0)))
        return left, right

    # --- choosing the way at a junction ----------------------------------------------
    def _start_radius(self, child: int) -> float:
        """A branch's calibre: the upper quartile of its radius over its first
        ``calibre_mm``, leaving out the first quarter (still in the parent's lumen). A
        stenosis just past the junction narrows only part of that: the median of the
        first 8 mm read a stenosed LAD (0.47 mm) thinner than its diagonal (0.78 mm),
        and the diagonal was followed as the LAD (2 of 40 phantom studies)."""
        path = self.tree.down(child, self.options.calibre_mm)
        radii = self.tree.radius_mm[path[len(path) // 4 :]]
        return float(np.percentile(radii, 75)) if len(radii) else 0.0

    def _choose_main(self, junction: int, kids: list[int]) -> int:
        """The continuation of an artery: long, thick and straight ahead."""
        heading = self.tree.heading(junction, 5.0)

        def score(child: int) -> float:
            turn = float(heading @ self.tree.direction(child, 6.0))
            length = min(self.tree.branch_mm(child), self.options.continuation_cap_mm)
            radius = max(self._start_radius(child), 0.3)
            return length * radius**2 * (1.2 + turn)

        return max(kids, key=score)

    def _choose_groove(self, junction: int, kids: list[int]) -> int:
        """The continuation of an AV-groove artery: stays in the groove (across the
        long axis) rather than turning towards the apex."""
        longest = max(self.tree.branch_mm(c) for c in kids)
        floor = max(self.options.min_branch_mm, 0.2 * longest)
        real = [c for c in kids if self.tree.branch_mm(c) >= floor]
        if len(real) <= 1:
            return real[0] if real else max(kids, key=self.tree.branch_mm)
        u = self.axes.long_axis
        off_groove = {
            c: abs(float(self.tree.direction(c, self.options.direction_mm) @ u)) for c in real
        }
        lowest = min(off_groove.values())
        level = [c for c in real if off_groove[c] <= lowest + 0.3]
        return max(level, key=self.tree.branch_mm)

    # --- the left coronary artery ----------------------------------------------------
    def _name_left(self, root: int) -> list[int]:
        """Name the left tree; returns the LCx route (from its first node)."""
        tree = self.tree
        main = tree.follow(root, self._choose_main)
        arc = tree.arc_mm(main)
        fork = self._left_main_fork(main)
        if fork is None:
            end = int(np.searchsorted(arc, 8.0))
            self._fill(main[: end + 1], "LM", 5)
            self.reasons.append("no LM bifurcation found: the first 8 mm were taken as the LM")
            self.doubts.append(0.6)
            lad_score = self._lad_score(main[end], main[end])
            if lad_score >= self.options.apex_cos:
                self._name_lad(main[end + 1 :])
                return []
            return main[end + 1 :]
        starts = self._fork_branches(main, arc, fork)
        junction = main[fork]
        self._fill(main[: fork + 1], "LM", 5)
        scores = {s: self._lad_score(junction, s) for s in starts}
        lcx = min(scores, key=scores.__getitem__)
        # Of the apex-bound branches (LAD, ramus) the LAD goes farthest: to the apex.
        bound = [s for s in starts if s != lcx]
        lad = max(bound, key=lambda s: self.tree.branch_mm(s) * self._start_radius(s) ** 2)
        if len(bound) == 1:
            lad = bound[0]
        lad_route = self._route_from(junction, lad, self._choose_main)
        self._refine_axes(lad_route)
        self.lad_route = lad_route
        margin = scores[lad] - scores[lcx]
        self.reasons.append(f"LAD/LCx told apart by course (margin {margin:.2f})")
        self.doubts.append(float(np.clip(0.4 + margin, 0.4, 1.0)))
        self._name_lad(lad_route)
        lcx_route = self._route_from(junction, lcx, self._choose_groove)
        rest = [s for s in starts if s not in (lad, lcx)]
        if rest:
            ramus = max(rest, key=tree.branch_mm)
            self._fill_branch(ramus, "RI", 17)
            self.reasons.append("a third large branch at the LM bifurcation: ramus intermedius")
        return lcx_route

    def _left_main_fork(self, main: list[int]) -> int | None:
        """Index on ``main`` of the first junction with two long branches, near the root."""
        tree, opt = self.tree, self.options
        arc = tree.arc_mm(main)
        for i, node in enumerate(main):
            if arc[i] > opt.max_left_main_mm:
                return None
            long = [c for c in tree.children[node] if tree.branch_mm(c) >= opt.major_branch_mm]
            if len(long) >= 2:
                return i
        return None

    def _fork_branches(self, main: list[int], arc: np.ndarray, fork: int) -> list[int]:
        """First nodes of the large branches at the LM bifurcation (trifurcation included)."""
        tree, opt = self.tree, self.options
        starts: list[int] = []
        i = fork
        while True:
            node = main[i]
            nxt = main[i + 1] if i + 1 < len(main) else -1
            starts.extend(
                c
                for c in tree.children[node]
                if c != nxt and tree.branch_mm(c) >= opt.major_branch_mm
            )
            if nxt < 0 or arc[i + 1] - arc[fork] > opt.trifurcation_mm:
                break
            i += 1
        # a ramus may leave the bifurcation on the side ``main`` did not take: the
        # skeleton then joins it just past the fork, on that branch's first millimetres
        for start in list(starts):
            for node in tree.down(start, opt.trifurcation_mm)[:-1]:
                starts.extend(
                    c
                    for c in tree.children[node]
                    if c != tree.best[node] and tree.branch_mm(c) >= opt.major_branch_mm
                )
        if i + 1 < len(main):
            starts.append(main[i + 1])
        return starts

    def _route_from(self, junction: int, start: int, choose: object) -> list[int]:
        """Nodes after ``junction`` to ``start`` (on the way down), then on to a free end."""
        lead = self.tree.path_from_root(start)
        lead = lead[lead.index(junction) + 1 :] if junction in lead else [start]
        return lead[:-1] + self.tree.follow(start, choose)  # type: ignore[arg-type]

    def _lad_score(self, junction: int, start: int) -> float:
        """How much a branch's course runs to the apex (LAD most, LCx least)."""
        path = self.tree.down(start, self.options.course_mm)
        course = self.tree.points_lps_mm[path[-1]] - self.tree.points_lps_mm[junction]
        norm = float(np.linalg.norm(course))
        return 0.0 if norm < 1e-6 else float(course @ self.axes.long_axis / norm)

    def _refine_axes(self, lad_route: list[int]) -> bool:
        refined = self.axes.refined_by_lad(self.tree.points_lps_mm[lad_route])
        if refined is None:
            return False
        self.axes = refined
        self.reasons.append("heart axes estimated from the LAD (long axis and roll)")
        return True

    def _name_lad(self, route: list[int]) -> None:
        tree, opt = self.tree, self.options
        if len(route) < 2:
            return
        arc = tree.arc_mm(route)
        diagonals, septals = [], []
        for i, node in self._side_branches(route):
            d = tree.direction(node, opt.direction_mm)
            dive = float(d @ self.axes.inward(tree.points_lps_mm[route[i]]))
            length = tree.branch_mm(node)
            short = length <= opt.max_septal_mm and dive >= opt.septal_inward_cos
            stub = length <= opt.short_septal_mm and dive >= opt.short_septal_cos
            if dive >= opt.deep_septal_cos or short or stub:
                septals.append((i, node))
            else:
                diagonals.append((i, node))
        firsts = [arc[i] for i, _ in diagonals[:1] + septals[:1]]
        height = self.axes.height_mm(tree.points_lps_mm[route])
        apex = int(np.argmax(height))
        to_apex = arc[apex] + max(0.0, self.axes.apex_height_mm - float(height[apex]))
        p_end = min(firsts) if firsts else 0.3 * to_apex
        m_end = p_end + 0.5 * (to_apex - p_end)
        segments = np.where(arc <= p_end, 6, np.where(arc <= m_end, 7, 8))
        for node, seg in zip(route, segments, strict=True):
            self._set(node, "LAD", int(seg))
        for k, (_, node) in enumerate(diagonals):
            self._fill_branch(node, f"D{k + 1}", 9 + k if k < 2 else _NO_SEGMENT)
        for _, node in septals:
            self._fill_branch(node, "septal", _NO_SEGMENT)

    def _side_branches(self, route: list[int]) -> list[tuple[int, int]]:
        """``(route index, first node)`` of unnamed branches of at least ``min_branch_mm``."""
        tree, found = self.tree, []
        for i, node in enumerate(route[:-1]):
            for child in tree.children[node]:
                unnamed = child != route[i + 1] and not self.name[child]
                if unnamed and tree.branch_mm(child) >= self.options.min_branch_mm:
                    found.append((i, child))
        return found

    # --- AV-groove arteries: RCA and LCx ---------------------------------------------
    def _groove_artery(self, route: list[int]) -> _GrooveArtery:
        """Find where a groove artery gives its PDA (if it does) and its apex-bound branches."""
        tree, opt = self.tree, self.options
        candidates: list[tuple[float, int, int]] = []  # (score, route index, first node)
        for i, node in enumerate(route[:-1]):
            kids = [c for c in tree.children[node] if tree.branch_mm(c) >= opt.min_branch_mm]
            if len(kids) < 2:
                continue
            for child in kids:
                score = self._pda_score(child)
                if score is not None:
                    candidates.append((score, i, child))
        turn = self._terminal_turn(route)
        if turn is not None:
            score = self._pda_score(route[turn + 1])
            if score is not None:
                candidates.append((score, turn, route[turn + 1]))
        best = max(candidates) if candidates else None
        return _GrooveArtery(route, best[1] if best else None, best[2] if best else None, turn)

    def _pda_score(self, start: int) -> float | None:
        tree, opt = self.tree, self.options
        course = tree.direction(start, opt.course_mm)
        along = float(course @ self.axes.long_axis)
        if along < opt.apex_cos:
            return None
        phi = self.axes.mean_phi_deg(tree.points_lps_mm[tree.down(start, opt.course_mm)])
        off = _wrap_deg(phi - self.axes.posterior_groove_deg)
        if not -opt.pda_window_rv_deg <= off <= opt.pda_window_lv_deg:
            return None
        return along + float(np.cos(np.radians(off)))

    def _terminal_turn(self, route: list[int]) -> int | None:
        """Index of the last groove point where the route's end turns to the apex."""
        tree = self.tree
        arc = tree.arc_mm(route)
        u = self.axes.long_axis
        end = tree.points_lps_mm[route[-1]]
        for i in range(len(route) - 1, 0, -1):
            if arc[-1] - arc[i] < 15.0:
                continue
            tail = end - tree.points_lps_mm[route[i]]
            apexward = float(tail @ u) >= 0.5 * float(np.linalg.norm(tail))
            if apexward and float(tree.heading(route[i], 8.0) @ u) < 0.3:
                return i
        return None

    def _name_groove_arteries(self, rca_route: list[int], lcx_route: list[int]) -> str:
        """Find the PDA, decide dominance, then name the RCA and the LCx."""
        rca = self._groove_artery(rca_route) if len(rca_route) >= 2 else None
        lcx = self._groove_artery(lcx_route) if len(lcx_route) >= 2 else None
        for refine in (self._tilt_to_grooves, self._roll_to_septum):
            if refine(rca, lcx):
                rca = self._groove_artery(rca_route) if rca is not None else None
                lcx = self._groove_artery(lcx_route) if lcx is not None else None
        right_pda = rca is not None and rca.pda is not None
        left_pda = lcx is not None and lcx.pda is not None
        right_plb = rca is not None and self._crux_sibling(rca) is not None
        if right_pda and left_pda and rca is not None and lcx is not None:
            right_off, left_off = self._groove_off_deg(rca), self._groove_off_deg(lcx)
            if right_off > left_off + self.options.pda_clear_deg:
                dominance = "left"
                rca.crux = rca.pda = None
            else:
                dominance = "right" if right_plb else "co"
        else:
            dominance = "right" if right_pda else "left" if left_pda else ""
        why = {
            "right": "the PDA comes from the RCA",
            "left": "the PDA comes from the LCx",
            "co": "the PDA comes from the RCA, the posterolateral branch from the LCx",
            "": "no PDA found: dominance undecided",
        }[dominance]
        self.reasons.append(f"dominance {dominance or 'unknown'}: {why}")
        self.doubts.append(1.0 if dominance else 0.7)
        if rca is not None:
            self._name_rca(rca, with_pda=dominance in ("right", "co"))
        if lcx is not None:
            self._name_lcx(lcx, dominance)
        return dominance

    def _tilt_to_grooves(self, rca: _GrooveArtery | None, lcx: _GrooveArtery | None) -> bool:
        """Long axis from the AV-groove plane, then the roll from the LAD again."""
        tree = self.tree
        trunks: list[int] = []
        for artery, skip_mm in ((rca, 15.0), (lcx, 0.0)):
            if artery is not None:
                trunk = artery.trunk
                trunks.extend(
                    n for n, s in zip(trunk, tree.arc_mm(trunk), strict=True) if s >= skip_mm
                )
        tilted = self.axes.tilted_to_plane(tree.points_lps_mm[trunks]) if trunks else None
        if tilted is None:
            return False
        self.axes = tilted.rolled_by_lad(tree.points_lps_mm[self.lad_route])
        self.reasons.append("long axis: normal of the AV-groove arteries' plane")
        return True

    def _roll_to_septum(self, rca: _GrooveArtery | None, lcx: _GrooveArtery | None) -> bool:
        """Roll from the septum: the line from the LAD to the PDA."""
        found = [a for a in (rca, lcx) if a is not None and a.pda is not None]
        if not found or not self.lad_route:
            return False
        pda = min(found, key=self._groove_off_deg).pda
        assert pda is not None
        pda_points = self.tree.points_lps_mm[self.tree.down(pda, 40.0)]
        lad_points = self.tree.points_lps_mm[self.lad_route]
        rolled = self.axes.rolled_to_septum(lad_points, pda_points)
        if rolled is None:
            return False
        self.axes = rolled
        self.reasons.append("roll: the septum runs from the LAD to the PDA")
        return True

    def _groove_off_deg(self, artery: _GrooveArtery) -> float:
        """How far (degrees about the long axis) a PDA candidate runs from the groove."""
        if artery.pda is None:
            return 180.0
        points = self.tree.points_lps_mm[self.tree.down(artery.pda, self.options.course_mm)]
        return abs(_wrap_deg(self.axes.mean_phi_deg(points) - self.axes.posterior_groove_deg))

    def _crux_sibling(self, artery: _GrooveArtery) -> int | None:
        """The posterolateral branch: the other large branch where the PDA starts."""
        if artery.crux is None or artery.pda is None:
            return None
        junction = artery.route[artery.crux]
        others = [
            c for c in self.tree.children[junction]
            if c != artery.pda and self.tree.branch_mm(c) >= self.options.min_branch_mm
        ]  # fmt: skip
        return self._choose_main(junction, others) if others else None

    def _name_rca(self, rca: _GrooveArtery, with_pda: bool) -> None:
        tree = self.tree
        crux = rca.crux if with_pda and rca.crux is not None else len(rca.route) - 1
        trunk = rca.route[: crux + 1]
        arc = tree.arc_mm(trunk)
        towards_rv = (tree.points_lps_mm[trunk] - self.axes.centre_lps_mm) @ self.axes.towards_rv
        s_margin = float(arc[int(np.argmax(towards_rv))])
        for node, s in zip(trunk, arc, strict=True):
            self._set(node, "RCA", 1 if s <= 0.5 * s_margin else 2 if s <= s_margin else 3)
        if with_pda and rca.pda is not None:
            plb = self._crux_sibling(rca)
            self._fill_branch(rca.pda, "R-PDA", 4)
            if plb is not None:
                self._fill_branch(plb, "R-PLB", 16)
        for _, node in self._side_branches(trunk):
            course = tree.direction(node, self.options.course_mm) @ self.axes.long_axis
            apexward = course >= self.options.apex_cos
            self._fill_branch(node, "acute marginal" if apexward else "other", _NO_SEGMENT)
        self._fill(rca.route, "RCA", 3)

    def _name_lcx(self, lcx: _GrooveArtery, dominance: str) -> None:
        tree = self.tree
        gives = dominance in ("left", "co") and lcx.crux is not None and lcx.pda is not None
        crux = lcx.crux if gives and lcx.crux is not None else len(lcx.route) - 1
        trunk = lcx.route[: crux + 1]
        if gives and lcx.pda is not None:
            if dominance == "left":
                plb = self._crux_sibling(lcx)
                self._fill_branch(lcx.pda, "L-PDA", 15)
                if plb is not None:
                    self._fill_branch(plb, "L-PLB", 18)
            else:
                self._fill_branch(lcx.pda, "L-PLB", 18)
        marginals = []
        for _, node in self._side_branches(trunk):
            course = tree.direction(node, self.options.course_mm) @ self.axes.long_axis
            if course >= self.options.apex_cos:
                marginals.append(node)
            else:
                self._fill_branch(node, "other", _NO_SEGMENT)
        arc = tree.arc_mm(trunk)
        position = {node: i for i, node in enumerate(trunk)}
        origins = [
            position[int(tree.parent[m])] for m in marginals if int(tree.parent[m]) in position
        ]
        s_om1 = float(arc[min(origins)]) if origins else 0.4 * float(arc[-1])
        for node, s in zip(trunk, arc, strict=True):
            self._set(node, "LCx", 11 if s <= s_om1 else 13)
        for k, node in enumerate(marginals):
            self._fill_branch(node, f"OM{k + 1}", 12 + 2 * k if k < 2 else _NO_SEGMENT)
        self._fill(lcx.route, "LCx", 13)

    # --- filling in ------------------------------------------------------------------
    def _set(self, node: int, name: str, segment: int) -> None:
        if not self.name[node]:
            self.name[node] = name
            self.segment[node] = segment

    def _fill(self, nodes: list[int], name: str, segment: int) -> None:
        for node in nodes:
            self._set(node, name, segment)

    def _fill_branch(self, start: int, name: str, segment: int) -> None:
        """Name the way down from ``start`` (its own side branches stay unnamed)."""
        self._fill(self.tree.follow(start, self._choose_main), name, segment)

    def _inherit_spurs(self) -> None:
        """Short unnamed side branches take their parent's label; longer ones are "other"."""
        tree = self.tree
        for node in tree.order:
            if self.name[node]:
                continue
            up = int(tree.parent[node])
            if up >= 0 and self.name[up] and tree.branch_mm(node) < self.options.min_branch_mm:
                for below in tree.subtree(node):
                    if not self.name[below]:
                        self.name[below], self.segment[below] = self.name[up], self.segment[up]
            elif up < 0 or self.name[up]:
                self._fill(tree.subtree(node), "other", _NO_SEGMENT)

    def _attach_loose(self, loose: list[int]) -> None:
        """A piece of the tree that reached no ostium continues the named vessel whose
        free end points at it (a vessel cut by an occlusion the repair did not bridge)."""
        tree = self.tree
        ends = [
            n for n in range(len(self.name))
            if not tree.children[n] and self.segment[n] > 0
        ]  # fmt: skip
        if not ends or not loose:
            return
        positions = tree.points_lps_mm[ends]
        for root in loose:
            piece = tree.follow(root, self._choose_main)
            best, best_mm = None, 25.0
            for end, where in zip(ends, positions, strict=True):
                for first in (piece[0], piece[-1]):
                    gap = tree.points_lps_mm[first] - where
                    gap_mm = float(np.linalg.norm(gap))
                    ahead = float(tree.heading(end, 5.0) @ gap) >= 0.6 * gap_mm
                    if gap_mm < best_mm and ahead:
                        best, best_mm = end, gap_mm
            if best is not None:
                self._fill(piece, self.name[best], int(self.segment[best]))
                self.reasons.append(
                    f"a piece not reached from an ostium continues the {self.name[best]} "
                    f"({best_mm:.0f} mm gap)"
                )


@dataclass
class _GrooveArtery:
    """An AV-groove artery's route, and where (route index) and with which branch (first
    node) it gives its PDA; ``turn`` is where its end turns to the apex, if it does."""

    route: list[int]
    crux: int | None
    pda: int | None
    turn: int | None

    @property
    def trunk(self) -> list[int]:
        """The route up to the PDA, or up to its turn to the apex, or all of it."""
        end = self.crux if self.crux is not None else self.turn
        return self.route if end is None else self.route[: end + 1]


def _wrap_deg(angle: float) -> float:
    return float((angle + 180.0) % 360.0 - 180.0)


def paint_segment_labels(
    vessels: list[Vessel], lumen_mask: np.ndarray, volume: Volume
) -> np.ndarray:
    """SCCT segment of every lumen voxel (uint8 on the volume's grid, for the DICOM SEG).

    Each voxel of ``lumen_mask`` takes the segment of its nearest centreline point when
    it lies within ``REACH_RADII`` × the radius there + ``REACH_MARGIN_MM`` of it, and
    stays 0 otherwise (lumen of pieces left out of the tree); points without a segment
    (septals, marginals, unnamed branches) give :data:`OTHER_LUMEN` (19); background is
    0. A branch's first point (which lies on its parent's centreline) is left out, so
    the parent's lumen keeps the parent's segment.

    Raises:
        GeometryValueError: ``lumen_mask`` is not on the volume's grid.
    """
    mask = np.asarray(lumen_mask, dtype=bool)
    if mask.shape != volume.shape:
        raise GeometryValueError(
            f"lumen_mask has shape {mask.shape}, the volume {volume.shape}; "
            "resample it onto the volume's grid first"
        )
    labels = np.zeros(volume.shape, dtype=np.uint8)
    points, values, reach = [], [], []
    for vessel in vessels:
        first = 1 if vessel.parent_id is not None else 0
        line = vessel.centerline
        for point, segment, radius in zip(line.points_lps_mm[first:], line.segment[first:],
                                          line.radius_mm[first:], strict=False):
            points.append(point)
            values.append(segment if segment is not None else OTHER_LUMEN)
            radius = float(radius) if radius is not None and np.isfinite(radius) else 1.0
            reach.append(REACH_RADII * radius + REACH_MARGIN_MM)
    voxels = np.argwhere(mask)
    if not points or len(voxels) == 0:
        return labels
    distance, nearest = cKDTree(np.asarray(points, dtype=np.float64)).query(
        volume.index_to_lps(voxels))
    near = distance <= np.asarray(reach, dtype=np.float64)[nearest]
    labels[tuple(voxels[near].T)] = np.asarray(values, dtype=np.uint8)[nearest[near]]
    return labels
