// Inside the widget's shadow root: nothing here reaches the host page, nothing of the host's reaches us.
export const STYLES = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.panel { position: fixed; top: 12px; right: 12px; width: 320px; max-height: calc(100vh - 80px); overflow: auto;
  z-index: 2147483000; display: flex; flex-direction: column; gap: 8px; font-size: 14px; color: #1d2330; }
.bar-top, .missed, .popup, .card { background: #fff; border: 1px solid #cfd6e4; border-radius: 8px;
  box-shadow: 0 2px 8px rgba(20, 30, 60, .15); padding: 10px 12px; }
.counts { display: flex; gap: 12px; font-weight: 600; margin-bottom: 6px; }
.choices { display: flex; gap: 6px; }
button { font: inherit; border-radius: 6px; border: 1px solid #9aa6bd; background: #f4f6fa; padding: 4px 10px;
  cursor: pointer; color: inherit; }
button:focus-visible, select:focus-visible, input:focus-visible { outline: 3px solid #2f6fed; outline-offset: 1px; }
button[aria-pressed="true"] { background: #1f5fd6; border-color: #1f5fd6; color: #fff; }
button:disabled { opacity: .5; cursor: not-allowed; }
.notice { margin: 0; font-size: 13px; color: #1d2330; background: #fff; border-radius: 6px; padding: 4px 8px;
  border: 1px solid #cfd6e4; }
.notice:empty { display: none; }
.notice.error { color: #b3261e; }
.popup { border-left: 6px solid #1b7a37; }
.popup h2, .card h2 { margin: 0 0 4px; font-size: 17px; }
.number { margin: 0 0 6px; color: #4a5571; }
.accounts { margin: 0 0 6px; padding-left: 18px; }
.dnc { margin: 0 0 6px; padding: 3px 8px; border-radius: 4px; background: #b3261e; color: #fff; font-weight: 600; }
.buttons { display: flex; gap: 8px; }
.open { background: #1b7a37; border-color: #1b7a37; color: #fff; flex: 1; }
.decline { background: #c62828; border-color: #c62828; color: #fff; flex: 1; }
.card { border-left: 6px solid #2f6fed; }
.recent { margin: 0 0 6px; font-size: 13px; }
.names { margin: 0 0 6px; font-size: 13px; color: #1d2330; }
.speaker fieldset { border: 1px solid #cfd6e4; border-radius: 6px; margin: 0 0 6px; padding: 4px 8px 6px; }
.speaker legend { font-size: 13px; font-weight: 600; padding: 0 4px; }
.speaker-choices, .speaker-typed { display: flex; gap: 4px; flex-wrap: wrap; margin-bottom: 4px; }
.speaker-typed input { flex: 1; min-width: 0; }
.dnc-form { display: flex; gap: 4px; flex-wrap: wrap; }
.flag-dnc { background: #c62828; border-color: #c62828; color: #fff; }
.missed h2 { font-size: 14px; margin: 0 0 6px; }
.missed ul { list-style: none; margin: 0 0 6px; padding: 0; }
.missed li { display: grid; grid-template-columns: 1fr auto; gap: 2px 8px; align-items: center; padding: 5px 0;
  border-bottom: 1px solid #e3e7ef; }
.missed .row-main { display: flex; gap: 6px; align-items: baseline; flex-wrap: wrap; }
.missed .who { font-weight: 600; }
.missed .row-number, .missed .row-detail { color: #4a5571; font-size: 13px; }
.missed .row-count { background: #b3261e; color: #fff; border-radius: 9px; padding: 0 7px; font-size: 12px; }
.missed .row-detail, .missed .claimed { grid-column: 1; }
.missed .claimed { font-size: 13px; color: #8a4b00; font-weight: 600; }
.missed .callback { grid-column: 2; grid-row: 1 / span 3; }
.empty { margin: 0; color: #4a5571; }
.bottom { position: fixed; left: 0; right: 0; bottom: 0; z-index: 2147483000; background: #1d2330; color: #fff;
  padding: 10px 16px; font-size: 15px; display: flex; gap: 10px; align-items: baseline; }
.bottom .number { color: #d5dbe8; margin: 0; }
.bottom[hidden] { display: none; }
`;
