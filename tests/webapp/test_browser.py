"""End to end in a real browser: the real server (``toiawase serve``, gunicorn) and headless Chromium.

Routing a question, then giving feedback on two (「正しい」, and a category chosen in 「修正」),
checked in the feedback database the server writes (``--db``, a SQLite file of the test).

The ``browser`` fixture (headless Chromium; it fails rather than skips without it) and the
``server`` fixture (the real server) are in ``tests/webapp/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

from feedback import FeedbackStore
from routing.predictor import load_predictor as load_bundle

QUESTION = "商品がまだ届きません。配送状況を教えてください。"
#: Questions for the feedback test (those the demo model routes without review at threshold 0).
FEEDBACK_QUESTIONS = [
    "パスワードを忘れてしまい、ログインできません。連絡先 yamada@example.com",
    "クレジットカードの支払いが二重に請求されています 電話 090-1234-5678",
    "注文した商品がまだ届きません。いつ発送されますか？",
    "届いた商品が壊れていたので返品したいです",
]
SAVED = "フィードバックを保存しました"


def test_route_a_question_in_the_browser(server: str, browser, trained_bundle_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    expected = load_bundle(trained_bundle_dir).predict([QUESTION], threshold=0.0)[0]

    browser.get(server + "/")
    assert "問い合わせ" in browser.title
    label = browser.find_element(By.XPATH, "//label[normalize-space()='お客様からの質問']")
    textarea = browser.find_element(By.ID, label.get_attribute("for"))
    textarea.send_keys(QUESTION)
    browser.find_element(By.XPATH, "//button[normalize-space()='質問する']").click()

    result = WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "result")))
    assert result.get_attribute("data-category") == expected.category
    assert expected.category in result.text
    assert f"{100 * expected.probability:.1f}%" in result.text
    # The question stays in the textarea after the answer.
    assert browser.find_element(By.ID, "question").get_attribute("value") == QUESTION

    screenshot = tmp_path / "result.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")


def test_feedback_in_the_browser(server: str, browser, trained_bundle_dir: Path, db_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    bundle = load_bundle(trained_bundle_dir)
    confident = [q for q in FEEDBACK_QUESTIONS if not bundle.predict([q], threshold=0.0)[0].needs_review]
    assert confident, "the demo model finds every question ambiguous"
    first, second = confident[0], confident[-1]
    wait = WebDriverWait(browser, 15)

    def route(question: str):
        browser.get(server + "/")
        browser.find_element(By.ID, "question").send_keys(question)
        browser.find_element(By.XPATH, "//button[normalize-space()='質問する']").click()
        return wait.until(EC.visibility_of_element_located((By.ID, "result")))

    def saved_message() -> str:
        return wait.until(EC.visibility_of_element_located((By.XPATH, f"//*[@role='status'][contains(., '{SAVED}')]"))).text

    # 「正しい」 under the first answer.
    result = route(first)
    confirmed_id = result.get_attribute("data-prediction-id")
    predicted = result.get_attribute("data-category")
    browser.find_element(By.XPATH, "//button[normalize-space()='正しい']").click()
    assert saved_message() == f"{SAVED}（正しい：{predicted}）"
    assert browser.current_url == server + "/"
    assert not browser.find_elements(By.ID, "result")  # back to an empty form (Post/Redirect/Get)

    # A category chosen in 「修正」 under the second answer.
    result = route(second)
    corrected_id = result.get_attribute("data-prediction-id")
    predicted_second = result.get_attribute("data-category")
    menu = Select(browser.find_element(By.XPATH, "//label[normalize-space()='修正：正しいカテゴリ']/following-sibling::select"))
    choices = [option.get_attribute("value") for option in menu.options if option.get_attribute("value")]
    assert predicted_second not in choices and len(choices) == len(bundle.categories) - 1
    chosen = choices[-1]
    menu.select_by_visible_text(chosen)
    browser.find_element(By.XPATH, "//button[normalize-space()='修正']").click()
    assert saved_message() == f"{SAVED}（修正：{chosen}）"
    screenshot = tmp_path / "feedback.png"
    assert browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")

    with FeedbackStore.open(db_url) as store:
        assert store.count_predictions() == 2 and store.count_feedback() == 2
        [confirmed] = store.feedback_for(confirmed_id)
        [corrected] = store.feedback_for(corrected_id)
        assert (confirmed.action, confirmed.predicted_category, confirmed.agent_category) == ("confirm", predicted, predicted)
        assert (corrected.action, corrected.predicted_category, corrected.agent_category) == ("correct", predicted_second, chosen)
        for row in (confirmed, corrected):
            assert row.model_version == bundle.version and "@" not in row.question and "090-1234" not in row.question
            assert store.get_prediction(row.prediction_id).source == "form"


def test_similar_tickets_copy_button_and_evidence_in_the_browser(server: str, browser, trained_bundle_dir: Path) -> None:
    """The similar tickets' answers are copied by their button (static/copy.js under the page's CSP);
    the tokens are highlighted with their effect on hover."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    bundle = load_bundle(trained_bundle_dir)
    document = bundle.prepare(QUESTION)
    category = bundle.predict_documents([document], threshold=0.0)[0].category
    expected = bundle.similar.search(document.tokens, category, 3)
    first_with_answer = next(i for i, ticket in enumerate(expected, start=1) if ticket.answer)

    browser.get(server + "/")
    origin = server.rstrip("/")
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.find_element(By.ID, "question").send_keys(QUESTION)
    browser.find_element(By.XPATH, "//button[normalize-space()='質問する']").click()

    similar = WebDriverWait(browser, 15).until(EC.visibility_of_element_located((By.ID, "similar")))
    items = similar.find_elements(By.CSS_SELECTOR, ".similar-item")
    assert [item.get_attribute("data-ticket-id") for item in items] == [t.id for t in expected]
    button = browser.find_element(By.CSS_SELECTOR, f"button[data-copy-target='similar-answer-{first_with_answer}']")
    assert button.is_displayed()  # shown by copy.js: the script ran under the CSP
    button.click()
    WebDriverWait(browser, 5).until(lambda driver: button.text == "コピーしました")
    copied = browser.execute_async_script("const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('ERROR ' + e));")
    assert copied == expected[first_with_answer - 1].answer

    tokens = browser.find_elements(By.CSS_SELECTOR, "#evidence .evidence-token")
    assert [t.text for t in tokens] == document.tokens
    assert all(t.get_attribute("title").startswith("影響 ") for t in tokens)
    colours = [t.value_of_css_property("background-color") for t in tokens]
    assert any(colour.startswith(("rgba(26, 127, 82", "rgba(180, 35, 24")) for colour in colours), colours
