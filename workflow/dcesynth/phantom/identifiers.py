"""Fake patient identifiers planted in every header attribute of the DICOM PS3.15 basic
de-identification profile that can hold one, so that the privacy tests can search every output."""

from __future__ import annotations

import functools
from typing import Any

from .spec import CaseSpec

# Attributes of the Basic Application Level Confidentiality Profile (DICOM PS3.15 Annex E,
# Table E.1-1) that hold names, ids, addresses, free text, dates or times, with their VR. The
# phantom plants a distinctive fake value in every one of them (UIDs are planted as real UIDs).
BASIC_PROFILE = {
    "PatientName": "PN", "PatientID": "LO", "PatientBirthDate": "DA", "PatientBirthTime": "TM",
    "OtherPatientIDs": "LO", "OtherPatientNames": "PN", "PatientBirthName": "PN", "PatientMotherBirthName": "PN",
    "PatientAddress": "LO", "PatientTelephoneNumbers": "SH", "MilitaryRank": "LO", "BranchOfService": "LO",
    "EthnicGroup": "SH", "Occupation": "SH", "AdditionalPatientHistory": "LT", "PatientComments": "LT",
    "MedicalRecordLocator": "LO", "IssuerOfPatientID": "LO", "CountryOfResidence": "LO", "RegionOfResidence": "LO",
    "PatientReligiousPreference": "LO", "LastMenstrualDate": "DA", "AdmittingDiagnosesDescription": "LO",
    "AdmissionID": "LO", "InstitutionName": "LO", "InstitutionAddress": "ST", "InstitutionalDepartmentName": "LO",
    "ReferringPhysicianName": "PN", "ReferringPhysicianAddress": "ST", "ReferringPhysicianTelephoneNumbers": "SH",
    "PerformingPhysicianName": "PN", "NameOfPhysiciansReadingStudy": "PN", "OperatorsName": "PN",
    "PhysiciansOfRecord": "PN", "RequestingPhysician": "PN", "ResponsiblePerson": "PN", "ResponsibleOrganization": "LO",
    "ContentCreatorName": "PN", "AccessionNumber": "SH", "StudyID": "SH", "RequestedProcedureID": "SH",
    "PerformedProcedureStepID": "SH", "RequestedProcedureDescription": "LO", "PerformedProcedureStepDescription": "LO",
    "StudyDescription": "LO", "ProtocolName": "LO", "DerivationDescription": "ST", "ImageComments": "LT",
    "StationName": "SH", "DeviceSerialNumber": "LO", "StudyDate": "DA", "SeriesDate": "DA", "AcquisitionDate": "DA",
    "ContentDate": "DA", "StudyTime": "TM", "SeriesTime": "TM", "AcquisitionTime": "TM", "ContentTime": "TM",
}  # fmt: skip


# Beyond the plain attributes: numbers and ages, identifiers inside sequences, and a private block.
# Each key names where the value sits: a keyword, "Sequence/Keyword" (first item) or "private/0xEE"
# (element EE of the private block PRIVATE_CREATOR in group 0x0011).
BASIC_PROFILE_MORE = {
    "PatientAge": "AS", "PatientSize": "DS", "PatientWeight": "DS",
    "OtherPatientIDsSequence/PatientID": "LO", "OtherPatientIDsSequence/IssuerOfPatientID": "LO",
    "RequestAttributesSequence/RequestedProcedureID": "SH",
    "RequestAttributesSequence/ScheduledProcedureStepID": "SH",
    "ReferringPhysicianIdentificationSequence/InstitutionName": "LO",
    "ReferringPhysicianIdentificationSequence/PersonTelephoneNumbers": "LO",
    "private/0x01": "LO", "private/0x02": "UT",
}  # fmt: skip
PRIVATE_CREATOR = "DCESYNTH PHANTOM"


# Attributes the writer sets itself (series selection, geometry, UIDs): not overwritten by plants.
_WRITER_KEYWORDS = {
    "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPClassUID",
    "SeriesDescription", "PatientSex",
}  # fmt: skip
# Value representations a searchable text value can be planted in.
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}


@functools.cache
def profile_tags() -> tuple[int, ...]:
    """Every attribute of DICOM PS3.15 Table E.1-1 (the basic de-identification profile) whose value
    representation can hold a searchable value (text, numbers as text, dates, times) or is a
    sequence, as listed by the dicom-anonymizer package (2026c edition of the standard)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    named = {*BASIC_PROFILE, *(k.split("/")[0] for k in BASIC_PROFILE_MORE), *_WRITER_KEYWORDS}
    out = []
    for t in dicom_anonymization_database_selector("dicomfields_2026c")["ALL_TAGS"]:
        if not (isinstance(t, tuple) and len(t) == 2 and all(isinstance(v, int) for v in t)):
            continue  # repeating groups (50xx, 60xx) and masks
        tag = (t[0] << 16) | t[1]
        try:
            vr, keyword = dictionary_VR(tag), dictionary_keyword(tag)
        except KeyError:
            continue
        if keyword and keyword not in named and (vr in _TEXT_VRS or vr == "SQ"):
            out.append(tag)
    return tuple(sorted(set(out)))


def _value(vr: str, token: str, i: int, n: int, key: str) -> str:
    """A valid, distinctive value of a value representation."""
    if vr == "PN":
        return f"Phantomova^{token}^Jana"
    if vr == "DA":
        return f"19{10 + (7 * i + n) % 80:02d}{1 + i % 12:02d}{10 + (i + n) % 18:02d}"
    if vr == "TM":
        return f"{i % 24:02d}{(n + i) % 60:02d}{n % 60:02d}.{(700000 + 997 * i + n) % 1000000:06d}"
    if vr == "DT":
        return f"19{10 + (3 * i + n) % 80:02d}{1 + i % 12:02d}{10 + (i + n) % 18:02d}{i % 24:02d}{n % 60:02d}17.{(300000 + 991 * i + n) % 1000000:06d}"
    if vr == "AS":
        return f"{(17 * n) % 60 + 25:03d}Y"
    if vr == "DS":
        if key == "PatientSize":  # metres
            return f"1.{(7919 * n + 31 * i) % 90000 + 10000:05d}"
        if key == "PatientWeight":  # kilograms
            return f"{50 + (3 * n) % 40}.{(7919 * n + 31 * i) % 90000 + 10000:05d}"
        return f"7{i:03d}{n:03d}.{(7919 * n + 31 * i) % 9000 + 1000:04d}"
    if vr == "IS":
        return f"7{i:03d}{n:03d}{(31 * i + n) % 90 + 10:02d}"
    if vr in ("CS", "AE"):
        return token.upper()
    if vr == "UR":
        return f"https://zq.example/{token}"
    if vr == "SH":
        return token
    return f"{token} confidential {key.split('/')[-1]}"[:64]  # LO holds 64 characters


def planted_identifiers(spec: CaseSpec) -> dict[str, str]:
    """Fake identifiers written into every DICOM header of a case: one per attribute of the
    PS3.15 basic profile that can hold text (keyed by keyword, "Sequence/Keyword", "private/0xEE"
    or "tag/GGGGEEEE"; a sequence of the profile gets one item whose CodeMeaning is the value).

    Every value is distinctive enough to be searched for as bytes (ages like ``047Y``, numbers
    with many digits); none may reach any output, log or report — the privacy tests search for
    them. Coded attributes (PatientSex) are planted too but cannot be searched.
    """
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    n = spec.index + 1
    fields = {**BASIC_PROFILE, **BASIC_PROFILE_MORE}
    fields |= {f"tag/{t:08X}": dictionary_VR(t) for t in profile_tags()}
    out = {}
    for i, (key, vr) in enumerate(fields.items()):
        token = f"Zq{i:03d}x{n:03d}"
        name = dictionary_keyword(int(key[4:], 16)) if key.startswith("tag/") else key
        out[key] = _value("LO" if vr == "SQ" else vr, token, i, n, name)
    return out


def plant_identifiers(ds: Any, idents: dict[str, str]) -> None:
    """Write the planted identifiers of :func:`planted_identifiers` into a pydicom dataset."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset

    ds.PatientSex = "F"
    block = ds.private_block(0x0011, PRIVATE_CREATOR, create=True)
    for key, value in idents.items():
        where, _, keyword = key.rpartition("/")
        if where == "private":
            block.add_new(int(keyword, 16), BASIC_PROFILE_MORE[key], value)
        elif where == "tag":
            tag = int(keyword, 16)
            if dictionary_VR(tag) == "SQ":
                item = Dataset()
                item.CodeMeaning = value
                ds.add_new(tag, "SQ", [item])
            else:
                ds.add_new(tag, dictionary_VR(tag), value)
        elif where:
            if where not in ds:
                setattr(ds, where, [Dataset()])
            setattr(getattr(ds, where)[0], keyword, value)
        else:
            setattr(ds, keyword, value)


def planted_value(ds: Any, key: str) -> str:
    """The value a dataset holds at a key of :func:`planted_identifiers` (for the tests)."""
    where, _, keyword = key.rpartition("/")
    if where == "private":
        return str(ds.private_block(0x0011, PRIVATE_CREATOR)[int(keyword, 16)].value)
    if where == "tag":
        element = ds[int(keyword, 16)]
        return str(element.value[0].CodeMeaning if element.VR == "SQ" else element.value)
    item = getattr(ds, where)[0] if where else ds
    return str(item.data_element(keyword).value)
