from __future__ import annotations

import pytest

from awa import derive_kind

GOLDEN = {
    "SendEmail": "send_email",
    "SendConfirmationEmail": "send_confirmation_email",
    "SMTPEmail": "smtp_email",
    "OAuthRefresh": "o_auth_refresh",
    "PDFRenderJob": "pdf_render_job",
    "ProcessV2Import": "process_v2_import",
    "ReconcileQ3Revenue": "reconcile_q3_revenue",
    "HTMLToPDF": "html_to_pdf",
    "IOError": "io_error",
    "lowercase": "lowercase",
    "A": "a",
}


@pytest.mark.parametrize(("name", "kind"), sorted(GOLDEN.items()))
def test_derive_kind_matches_upstream_golden_cases(name: str, kind: str) -> None:
    assert derive_kind(name) == kind
