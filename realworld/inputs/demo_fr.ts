<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR">
<context>
    <name>LoginDialog</name>
    <message><source>Log in</source><translation>Connexion</translation></message>
    <message><source>&amp;User:</source><translation>&amp;Utilisateur :</translation></message>
    <message><source>&amp;Password:</source><translation>&amp;Mot de passe :</translation></message>
    <message><source>%n file(s) found</source><translation type="unfinished"></translation></message>
    <message numerus="yes"><source>%n item(s)</source><translation><numerusform>%n élément</numerusform><numerusform>%n éléments</numerusform></translation></message>
</context>
</TS>
