"""The words of the report, the film page and the burned-in annotations, per language.

One table of strings per language (:data:`TEXT`), the same keys in each; CAD-RADS 2.0
meanings and management suggestions (Cury et al., "CAD-RADS 2.0", JACC Cardiovasc
Imaging 2022;15:1974-2001, table 2) and name tables keyed by the codes the
:class:`~ccta_ai.analysis.findings.Findings` use. Unknown codes are shown as they are.
"""

from __future__ import annotations

LANGUAGES = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "冠状动脉CT血管成像（CCTA）AI 分析报告",
        "banner": "AI 结果 — 需医师审核 / AI result — requires physician review",
        "disclaimer": (
            "本报告由人工智能软件自动生成，仅供临床参考，不构成诊断；所有结果须经执业医师"
            "审核确认后方可用于临床决策。"
        ),
        "patient": "患者信息",
        "name": "姓名",
        "patient_id": "患者ID",
        "sex": "性别",
        "birth_date": "出生日期",
        "age": "年龄",
        "study_date": "检查日期",
        "accession": "检查号",
        "study_description": "检查描述",
        "technique": "检查技术",
        "scanner": "设备",
        "kvp": "管电压",
        "tube_current": "管电流",
        "slice_thickness": "层厚",
        "pixel_spacing": "像素间距",
        "kernel": "重建核",
        "contrast": "对比剂",
        "heart_rate": "心率",
        "cardiac_phase": "心动周期时相",
        "ctdi": "CTDIvol",
        "slices": "图像层数",
        "image_quality": "图像质量",
        "dominance": "冠脉优势型",
        "findings": "各血管所见",
        "vessel": "血管",
        "segment": "节段",
        "stenosis": "直径狭窄",
        "area_stenosis": "面积狭窄",
        "mld": "最小管腔直径",
        "reference": "参考直径",
        "length": "病变长度",
        "plaque": "斑块",
        "plaque_volume": "斑块体积",
        "high_risk": "高危特征",
        "lesion_grade": "狭窄分级",
        "no_lesion": "未见 ≥25% 狭窄",
        "summary": "结论",
        "cad_rads": "CAD-RADS 2.0 分级",
        "meaning": "含义",
        "management": "处理建议（CAD-RADS 2.0）",
        "modifiers": "修饰符",
        "plaque_burden": "斑块负荷",
        "sis": "节段受累评分（SIS）",
        "reasons": "分级依据",
        "key_images": "关键图像",
        "algorithm": "算法与模型",
        "algorithm_name": "算法",
        "version": "版本",
        "model": "模型",
        "sha256": "模型 SHA-256",
        "warnings": "提示",
        "none": "无",
        "straightened": "拉直曲面重建",
        "stretched": "拉伸曲面重建",
        "cross_section": "横断面",
        "at_mld": "最窄处",
        "at_reference": "参考处",
        "profile": "管腔直径曲线",
        "overview": "冠脉树概览",
        "anterior": "前后位",
        "lateral": "左侧位",
        "diameter_mm": "直径 (mm)",
        "distance_mm": "距血管起点距离 (mm)",
        "equivalent": "等效直径",
        "min_max": "最小/最大直径",
        "reference_line": "参考直径",
        "page": "第 {page} 页",
        "sex_M": "男",
        "sex_F": "女",
        "sex_O": "其他",
        "dominance_right": "右优势型",
        "dominance_left": "左优势型",
        "dominance_co": "均衡型",
        "quality_diagnostic": "满足诊断",
        "quality_limited": "部分受限",
        "quality_non-diagnostic": "不满足诊断",
        "occlusion": "闭塞",
    },
    "en": {
        "title": "Coronary CT angiography (CCTA) AI analysis report",
        "banner": "AI result — requires physician review",
        "disclaimer": (
            "This report was generated automatically by artificial-intelligence software. "
            "It is not a diagnosis: every result must be reviewed and confirmed by a "
            "physician before it is used for clinical decisions."
        ),
        "patient": "Patient",
        "name": "Name",
        "patient_id": "Patient ID",
        "sex": "Sex",
        "birth_date": "Birth date",
        "age": "Age",
        "study_date": "Study date",
        "accession": "Accession",
        "study_description": "Study",
        "technique": "Technique",
        "scanner": "Scanner",
        "kvp": "Tube voltage",
        "tube_current": "Tube current",
        "slice_thickness": "Slice thickness",
        "pixel_spacing": "Pixel spacing",
        "kernel": "Kernel",
        "contrast": "Contrast",
        "heart_rate": "Heart rate",
        "cardiac_phase": "Cardiac phase",
        "ctdi": "CTDIvol",
        "slices": "Images",
        "image_quality": "Image quality",
        "dominance": "Dominance",
        "findings": "Findings per vessel",
        "vessel": "Vessel",
        "segment": "Segment",
        "stenosis": "Diameter stenosis",
        "area_stenosis": "Area stenosis",
        "mld": "MLD",
        "reference": "Reference",
        "length": "Length",
        "plaque": "Plaque",
        "plaque_volume": "Plaque volume",
        "high_risk": "High-risk features",
        "lesion_grade": "Grade",
        "no_lesion": "no stenosis ≥ 25%",
        "summary": "Impression",
        "cad_rads": "CAD-RADS 2.0",
        "meaning": "Meaning",
        "management": "Management (CAD-RADS 2.0)",
        "modifiers": "Modifiers",
        "plaque_burden": "Plaque burden",
        "sis": "Segment involvement score (SIS)",
        "reasons": "Reasons",
        "key_images": "Key images",
        "algorithm": "Algorithm and model",
        "algorithm_name": "Algorithm",
        "version": "Version",
        "model": "Model",
        "sha256": "Model SHA-256",
        "warnings": "Notes",
        "none": "none",
        "straightened": "straightened CPR",
        "stretched": "stretched CPR",
        "cross_section": "cross-section",
        "at_mld": "at MLD",
        "at_reference": "reference",
        "profile": "lumen diameter profile",
        "overview": "coronary tree overview",
        "anterior": "anterior",
        "lateral": "left lateral",
        "diameter_mm": "diameter (mm)",
        "distance_mm": "distance from the vessel's origin (mm)",
        "equivalent": "equivalent diameter",
        "min_max": "min/max diameter",
        "reference_line": "reference diameter",
        "page": "page {page}",
        "sex_M": "male",
        "sex_F": "female",
        "sex_O": "other",
        "dominance_right": "right dominant",
        "dominance_left": "left dominant",
        "dominance_co": "co-dominant",
        "quality_diagnostic": "diagnostic",
        "quality_limited": "limited",
        "quality_non-diagnostic": "non-diagnostic",
        "occlusion": "occlusion",
    },
}

#: CAD-RADS 2.0 category -> (degree of stenosis, meaning) per language.
CAD_RADS_MEANING: dict[str, dict[str, str]] = {
    "zh": {
        "0": "0%（无斑块或狭窄）：无冠状动脉粥样硬化",
        "1": "1–24%：极轻度非阻塞性病变",
        "2": "25–49%：轻度非阻塞性病变",
        "3": "50–69%：中度狭窄",
        "4A": "70–99%：重度狭窄",
        "4B": "左主干 >50% 或三支血管阻塞性病变（≥70%）",
        "5": "100%：完全闭塞",
        "N": "非诊断性检查",
    },
    "en": {
        "0": "0% (no plaque or stenosis): absence of CAD",
        "1": "1–24%: minimal non-obstructive CAD",
        "2": "25–49%: mild non-obstructive CAD",
        "3": "50–69%: moderate stenosis",
        "4A": "70–99%: severe stenosis",
        "4B": "left main > 50% or three-vessel obstructive (≥ 70%) disease",
        "5": "100%: total occlusion",
        "N": "non-diagnostic study",
    },
}

#: CAD-RADS 2.0 management suggestion per category (stable chest pain), per language.
CAD_RADS_MANAGEMENT: dict[str, dict[str, str]] = {
    "zh": {
        "0": "无需进一步心脏检查；考虑非动脉粥样硬化性胸痛原因。",
        "1": "考虑非动脉粥样硬化性胸痛原因；根据斑块负荷考虑预防性治疗及危险因素控制。",
        "2": "考虑非动脉粥样硬化性胸痛原因；预防性治疗及危险因素控制。",
        "3": "考虑功能学评估；预防性及抗缺血治疗、危险因素控制；"
        "按指南考虑其他治疗（包括血运重建）。",
        "4A": "考虑有创冠状动脉造影（ICA）或功能学评估；预防性及抗缺血治疗、危险因素控制；"
        "按指南考虑其他治疗（包括血运重建）。",
        "4B": "推荐有创冠状动脉造影（ICA）；预防性及抗缺血治疗、危险因素控制；按指南考虑血运重建。",
        "5": "考虑有创冠状动脉造影（ICA）和/或心肌存活评估；预防性及抗缺血治疗、危险因素控制。",
        "N": "可能需要进一步或其他检查评估。",
    },
    "en": {
        "0": "No further cardiac investigation; consider non-atherosclerotic causes of chest pain.",
        "1": "Consider non-atherosclerotic causes of chest pain; consider preventive therapy and "
        "risk factor modification depending on plaque burden.",
        "2": "Consider non-atherosclerotic causes of chest pain; preventive therapy and risk "
        "factor modification.",
        "3": "Consider functional assessment; preventive and anti-ischaemic therapy and risk "
        "factor modification; other treatments (including revascularisation) per guidelines.",
        "4A": "Consider ICA or functional assessment; preventive and anti-ischaemic therapy and "
        "risk factor modification; other treatments (including revascularisation) per "
        "guidelines.",
        "4B": "ICA is recommended; preventive and anti-ischaemic therapy and risk factor "
        "modification; revascularisation per guidelines.",
        "5": "Consider ICA and/or viability assessment; preventive and anti-ischaemic therapy "
        "and risk factor modification.",
        "N": "Additional or alternative evaluation may be needed.",
    },
}

#: CAD-RADS 2.0 modifiers and plaque burden.
MODIFIERS: dict[str, dict[str, str]] = {
    "zh": {
        "N": "N（非诊断性）", "HRP": "HRP（高危斑块）", "I": "I（缺血）", "S": "S（支架）",
        "G": "G（旁路移植）", "E": "E（例外）",
        "P1": "P1（轻度）", "P2": "P2（中度）", "P3": "P3（重度）", "P4": "P4（广泛）",
    },
    "en": {
        "N": "N (non-diagnostic)", "HRP": "HRP (high-risk plaque)", "I": "I (ischaemia)",
        "S": "S (stent)", "G": "G (graft)", "E": "E (exceptions)",
        "P1": "P1 (mild)", "P2": "P2 (moderate)", "P3": "P3 (severe)", "P4": "P4 (extensive)",
    },
}  # fmt: skip

#: Vessel names (Findings.Vessel.name) per language.
VESSELS: dict[str, dict[str, str]] = {
    "zh": {
        "LM": "左主干", "LAD": "前降支", "LCx": "回旋支", "RCA": "右冠状动脉",
        "D1": "第一对角支", "D2": "第二对角支", "OM1": "第一钝缘支", "OM2": "第二钝缘支",
        "RI": "中间支", "R-PDA": "后降支（右冠）", "L-PDA": "后降支（左冠）",
        "R-PLB": "左室后支（右冠）", "L-PLB": "左室后支（左冠）", "S1": "第一间隔支",
        "OM3": "第三钝缘支", "D3": "第三对角支", "septal": "间隔支", "acute marginal": "锐缘支",
        "other": "其他分支",
    },
    "en": {},
}  # fmt: skip

#: SCCT segment short names (phantom.labels.SCCT_SEGMENTS) in Chinese.
SEGMENTS_ZH: dict[str, str] = {
    "pRCA": "右冠近段", "mRCA": "右冠中段", "dRCA": "右冠远段", "R-PDA": "右冠后降支",
    "LM": "左主干", "pLAD": "前降支近段", "mLAD": "前降支中段", "dLAD": "前降支远段",
    "D1": "第一对角支", "D2": "第二对角支", "pLCx": "回旋支近段", "OM1": "第一钝缘支",
    "dLCx": "回旋支中远段", "OM2": "第二钝缘支", "L-PDA": "左冠后降支",
    "R-PLB": "右冠左室后支", "RI": "中间支", "L-PLB": "左冠左室后支",
}  # fmt: skip

PLAQUE: dict[str, dict[str, str]] = {
    "zh": {"calcified": "钙化斑块", "non-calcified": "非钙化斑块", "mixed": "混合斑块"},
    "en": {"calcified": "calcified", "non-calcified": "non-calcified", "mixed": "mixed"},
}

HIGH_RISK: dict[str, dict[str, str]] = {
    "zh": {
        "positive remodeling": "正性重构", "positive remodelling": "正性重构",
        "low-attenuation plaque": "低密度斑块", "napkin-ring sign": "餐巾环征",
        "napkin-ring": "餐巾环征", "spotty calcification": "点状钙化",
    },
    "en": {},
}  # fmt: skip


#: Per-lesion stenosis grades (``Lesion.grade``, CAD-RADS 2.0 degree of stenosis).
LESION_GRADES: dict[str, dict[str, str]] = {
    "zh": {"minimal": "极轻度", "mild": "轻度", "moderate": "中度", "severe": "重度",
           "occluded": "闭塞"},
    "en": {},
}

#: Vessels reported even without a lesion (when named so), in this order of names.
REPORTED_VESSELS = ("LM", "LAD", "LCx", "RCA", "RI", "D1", "D2", "OM1", "OM2", "R-PDA",
                    "L-PDA", "R-PLB", "L-PLB")


def check_language(language: str) -> str:
    """``language`` itself when supported.

    Raises:
        ValueError: not one of :data:`LANGUAGES`.
    """
    if language not in LANGUAGES:
        raise ValueError(f"report language {language!r} is not one of {LANGUAGES}")
    return language


def text(language: str, key: str) -> str:
    return TEXT[check_language(language)][key]


def lookup(table: dict[str, dict[str, str]], language: str, code: str) -> str:
    """``code`` translated by ``table`` (the code itself when the table lacks it)."""
    return table[check_language(language)].get(code, code)


def vessel_label(language: str, name: str) -> str:
    """"LAD" in English, "前降支 LAD" in Chinese (the abbreviation stays for the images)."""
    local = VESSELS[check_language(language)].get(name)
    return f"{local} {name}" if local else name


def segment_label(language: str, short_name: str) -> str:
    local = SEGMENTS_ZH.get(short_name) if check_language(language) == "zh" else None
    return f"{local} {short_name}" if local else short_name
