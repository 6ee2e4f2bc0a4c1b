; Inno Setup 6 script for the Windows installer (untested here: no Windows build machine yet).
;   1. build the bundle on Windows (packaging/README.md, "Windows"): dist\medview\
;   2. iscc packaging\medview.iss            -> dist\medview-0.1.0-windows-x64-setup*.exe
; Run from the repository root or anywhere: paths below are relative to this file.

#define AppVersion "0.1.0"

[Setup]
AppId={{6B0E3C52-6E0B-4C1B-9A0E-4D6D2C1F7A11}
AppName=medview
AppVersion={#AppVersion}
AppPublisher=medview contributors
DefaultDirName={autopf}\medview
DefaultGroupName=medview
DisableProgramGroupPage=yes
OutputDir=..\dist
OutputBaseFilename=medview-{#AppVersion}-windows-x64-setup
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Per-user install without admin rights unless the user picks "all users".
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
Compression=lzma2/ultra64
SolidCompression=yes
LZMANumBlockThreads=4
; The CUDA bundle is larger than the 2 GB an uncompressed setup .exe may hold.
DiskSpanning=yes
DiskSliceSize=max
SetupIconFile=..\build\icon\medview.ico
UninstallDisplayIcon={app}\medview-gui.exe
WizardStyle=modern

[Tasks]
Name: desktopicon; Description: "Create a desktop shortcut"; Flags: unchecked

[Files]
Source: "..\dist\medview\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\medview"; Filename: "{app}\medview-gui.exe"
Name: "{group}\medview self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\medview.exe"" self-test"
Name: "{autodesktop}\medview"; Filename: "{app}\medview-gui.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\medview-gui.exe"; Description: "Start medview"; Flags: nowait postinstall skipifsilent
